"""diff over fleets: a git revision of a profiles tree, two folders of profiles or of compiled output."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from ..conftest import REPO, assert_golden
from .helpers import GOLDEN

SCHEMA = REPO / "schemas" / "cli" / "v1" / "diff.schema.json"
COPIED = {"chromebook": ("family.yaml", "board-4g.yaml", "board-8g.yaml"), "qemu": ("qemu-4g.yaml", "qemu-4g-cma.yaml")}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                   capture_output=True)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


@pytest.fixture
def fleet_repo(tmp_path: Path) -> Path:
    """A git repository with profiles/{chromebook,qemu}: the first commit as bundled."""
    if shutil.which("git") is None:
        pytest.fail("git is required (requirements/apt-test.txt)")
    repo = tmp_path / "fleet"
    for folder, names in COPIED.items():
        (repo / "profiles" / folder).mkdir(parents=True)
        for name in names:
            shutil.copy(REPO / "profiles" / folder / name, repo / "profiles" / folder / name)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "fleet")
    return repo


def _pull_request(repo: Path) -> None:
    """The family file grows the crash initrd, one board changes its CMA, one is renamed, one breaks."""
    profiles = repo / "profiles"
    _edit(profiles / "chromebook" / "family.yaml", "initrd_size: 6M", "initrd_size: 24M")
    _edit(profiles / "qemu" / "qemu-4g-cma.yaml", "cma_size: 256M", "cma_size: 272M")
    _edit(profiles / "qemu" / "qemu-4g.yaml", "board: qemu-4g\n", "board: qemu-4g-renamed\n")
    _edit(profiles / "chromebook" / "board-8g.yaml", "board: chromebook-8g\n", "board: chromebook-8g\nkaslr: maybe\n")


def test_a_pull_request_over_a_revision_of_the_tree(fleet_repo: Path, run_cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _pull_request(fleet_repo)
    monkeypatch.chdir(fleet_repo)
    markdown = run_cli("diff", "--rev", "HEAD", "profiles/", "--format", "markdown")
    assert markdown.code == 3, markdown.err
    summary = markdown.out.split("\n\n### ")[0]
    assert "| chromebook-4g | changed |" in summary  # only its family file changed: extends is followed
    assert "| chromebook-8g | stopped compiling: LC104 |" in summary
    assert "| qemu-4g-renamed | renamed from qemu-4g |" in summary
    assert "256 MiB -> 272 MiB (+16 MiB)" in summary
    assert "\n### chromebook-8g: stopped compiling: LC104 (profiles/chromebook/board-8g.yaml)\n" in markdown.out
    assert_golden(GOLDEN / "diff-fleet-rev.md", markdown.out)
    text = run_cli("diff", "--rev", "HEAD..", "profiles")
    assert text.code == 3
    assert_golden(GOLDEN / "diff-fleet-rev.txt", text.out)
    as_json = run_cli("diff", "--rev", "HEAD", "profiles", "--format", "json")
    assert as_json.code == 3
    Draft202012Validator(json.loads(SCHEMA.read_text())).validate(json.loads(as_json.out))
    boards = {b["board"]: b for b in json.loads(as_json.out)["boards"]}
    broken = boards["chromebook-8g"]
    assert broken["error"]["code"] == "LC104" and broken["status"] == "stopped compiling"
    assert boards["qemu-4g-renamed"]["old"]["board"] == "qemu-4g"
    assert boards["qemu-4g-cma"]["diff"]["changes"] != []


def test_an_unchanged_tree_and_a_committed_change(fleet_repo: Path, run_cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(fleet_repo / "profiles")  # PATH and the repository path differ: git sees profiles/qemu
    same = run_cli("diff", "--rev", "HEAD", "qemu")
    assert (same.code, same.out) == (0, "qemu@HEAD -> qemu@worktree: 2 board(s): 2 unchanged.\n")
    _edit(fleet_repo / "profiles" / "qemu" / "qemu-4g-cma.yaml", "cma_size: 256M", "cma_size: 272M")
    _git(fleet_repo, "commit", "-q", "-am", "more CMA")
    assert run_cli("diff", "--rev", "HEAD", "qemu").code == 0
    committed = run_cli("diff", "--rev", "HEAD~1..HEAD", "qemu")
    assert committed.code == 3 and "qemu-4g-cma  changed" in committed.out


def test_two_folders_of_profiles_and_of_compiled_output(fleet_repo: Path, tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    profiles, before, after = fleet_repo / "profiles", tmp_path / "before", tmp_path / "after"
    shutil.copytree(profiles, tmp_path / "old-profiles")
    assert run_cli("compile", str(profiles), "-o", str(before)).code == 0
    _edit(profiles / "chromebook" / "family.yaml", "initrd_size: 6M", "initrd_size: 24M")
    assert run_cli("compile", str(profiles), "-o", str(after)).code == 0
    for old, new in ((before, after), (tmp_path / "old-profiles", profiles), (before, profiles)):
        result = run_cli("diff", str(old), str(new))
        assert result.code == 3, result.err
        assert "4 board(s): 2 changed, 2 unchanged." in result.out, (old, new, result.out)  # both extend it
        assert "\nchromebook-4g  changed  " in result.out
    assert run_cli("diff", str(before), str(before)).code == 0
    one = run_cli("diff", str(before / "chromebook-4g" / "layout.json"), str(after / "chromebook-4g"))
    assert one.code == 3 and "~ crashkernel=224M -> crashkernel=288M  (+64 MiB)" in one.out
    mixed = run_cli("diff", str(before), str(after / "chromebook-4g"))
    assert mixed.code == 2 and "is a folder of boards and" in mixed.err


def test_a_layout_json_the_reader_refuses(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    assert run_cli("compile", str(REPO / "profiles" / "qemu" / "qemu-4g.yaml"), "-o", str(out)).code == 0
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1}\n')
    result = run_cli("diff", str(out / "layout.json"), str(bad))
    assert result.code == 1
    first = result.err.splitlines()[:3]
    assert first[0].startswith(f"error[LC540]: {bad}: /: ") and first[0].endswith("(schema: /required)")
    assert first[1] == "  = rule: diff reads compiled output through the one layout.json reader (docs/layout-json.md)"
    assert first[2] == "  = hint: compile the profile again with this layoutc, or diff the profiles instead"


def test_a_revision_git_cannot_read(fleet_repo: Path, run_cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(fleet_repo)
    result = run_cli("diff", "--rev", "nosuchrev", "profiles")
    assert result.code == 1
    assert result.err == (
        "error[LC541]: cannot read profiles at nosuchrev: unknown revision 'nosuchrev'\n"
        "  = rule: --rev REV reads each file as 'git show REV:PATH' from the git repository that holds PATH\n"
        "  = hint: check the revision ('git log --oneline') and that PATH is in it\n")
    (fleet_repo / "new").mkdir()
    (fleet_repo / "new" / "b.yaml").write_text("schema_version: 1\n")
    assert run_cli("diff", "--rev", "HEAD", "new").err.startswith(
        "error[LC541]: cannot read new at HEAD: new is not in revision 'HEAD'\n")


def test_two_profiles_of_one_board_in_a_folder(fleet_repo: Path, tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    profiles = fleet_repo / "profiles"
    shutil.copytree(profiles, tmp_path / "old")
    shutil.copy(profiles / "qemu" / "qemu-4g.yaml", profiles / "qemu" / "again.yaml")
    result = run_cli("diff", str(tmp_path / "old"), str(profiles), "--format", "markdown")
    assert result.code == 3
    assert "| qemu/qemu-4g.yaml | added: LC542 |" in result.out  # qemu/again.yaml comes first
    assert ("error[LC542]: board: qemu/qemu-4g.yaml is board 'qemu-4g' too (first: qemu/again.yaml)\n"
            "  = rule: a fleet has one profile per board name\n"
            "  = hint: give each profile its own board name\n") in result.out
