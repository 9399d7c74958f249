"""diff: semantic changes, exit codes, two bundled boards, two revisions of one profile."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from layoutc.model import layout_json
from layoutc.review.diff import diff, param_key, render_markdown, render_text
from layoutc.review.doc import escape, leaves
from layoutc.review.verbs import main_review

from ..conftest import REPO, assert_golden
from .helpers import GOLDEN, compiled, fixture


def test_identical_layouts_do_not_change() -> None:
    doc = fixture("qemu-4g.json")
    result = diff(doc, doc)
    assert not result.changed
    assert render_text(result).endswith("no layout change\n")
    assert "No layout change." in render_markdown(result)


def test_fixture_revision_reads_as_a_reviewer_expects() -> None:
    result = diff(fixture("qemu-4g.json"), fixture("qemu-4g-rev2.json"), old_label="main", new_label="pr")
    text = render_text(result)
    assert result.changed
    assert "~ crashkernel=160M -> crashkernel=256M  (+96 MiB)" in text
    assert "+ memory_hotplug.memmap_on_memory=0" in text
    assert "memmap=258M!0x127e00000 -> memmap=258M!0x11fe00000  (base -128 MiB)" in text
    assert "crashkernel: [0xb5000000, 0xbf000000) 160 MiB -> [0xaf000000, 0xbf000000) 256 MiB" in text
    assert "resized 160 MiB -> 256 MiB (+96 MiB)" in text
    assert "unusable while armed: 160 MiB -> 256 MiB  (+96 MiB: more memory lost while armed)" in text
    assert "/crashkernel: crashkernel=X: highest free" in text and "pinned by crash.reserve" in text
    assert_golden(GOLDEN / "diff-fixture-rev.txt", text)
    assert_golden(GOLDEN / "diff-fixture-rev.md", render_markdown(result))


def test_two_bundled_boards() -> None:
    old, new = compiled("profiles/qemu/qemu-4g.yaml"), compiled("profiles/qemu/qemu-4g-cma.yaml")
    result = diff(old.doc, new.doc, old_label="qemu-4g.yaml", new_label="qemu-4g-cma.yaml")
    text = render_text(result)
    assert "crash memory: classic -> cma" in text
    assert "+ crashkernel=256M,cma" in text
    assert "crash_cma0" in text
    assert_golden(GOLDEN / "diff-qemu-4g-to-qemu-4g-cma.txt", text)
    assert_golden(GOLDEN / "diff-qemu-4g-to-qemu-4g-cma.md", render_markdown(result))


def test_crashkernel_classes_are_separate_parameters() -> None:
    assert param_key("crashkernel=256M") == "crashkernel"
    assert param_key("crashkernel=1G,cma") == "crashkernel,cma"
    assert param_key("crashkernel=128M,low") == "crashkernel,low"
    assert param_key("nokaslr") == "nokaslr"


def test_positions_alone_are_no_change() -> None:
    old = fixture("qemu-4g.json")
    new = {**old, "provenance": {k: {**v, "inputs": [{**i, "line": i["line"] + 3} for i in v["inputs"]]}
                                 for k, v in old["provenance"].items()}}
    assert not diff(old, new).changed


def test_cli_exit_codes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    same = ["profiles/qemu/qemu-4g.yaml", "profiles/qemu/qemu-4g.yaml"]
    assert main_review("diff", same) == 0
    capsys.readouterr()
    svg = tmp_path / "side.svg"
    code = main_review("diff", ["profiles/qemu/qemu-4g.yaml", "profiles/chromebook/board-4g.yaml",
                                "--format", "markdown", "--svg", str(svg)])
    out = capsys.readouterr().out
    assert code == 3
    assert out.startswith("### layoutc diff: qemu-4g")
    assert svg.read_text().startswith("<svg")
    assert main_review("diff", ["profiles/qemu/qemu-4g.yaml"]) == 2
    assert main_review("diff", ["--rev", "HEAD", "profiles/qemu/qemu-4g.yaml", "profiles/qemu/qemu-4g.yaml"]) == 2
    assert main_review("diff", ["profiles/qemu/qemu-4g.yaml", "profiles/chromebook/family.yaml"]) == 1


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                   capture_output=True)


@pytest.fixture
def profile_repo(tmp_path: Path) -> Path:
    """A git repository of profiles: a family base and a board that extends it, two commits."""
    if shutil.which("git") is None:
        pytest.fail("git is required (requirements/apt-test.txt)")
    repo = tmp_path / "fleet"
    (repo / "chromebook").mkdir(parents=True)
    for name in ("family.yaml", "board-4g.yaml"):
        shutil.copy(REPO / "profiles" / "chromebook" / name, repo / "chromebook" / name)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "base")
    family = repo / "chromebook" / "family.yaml"
    family.write_text(family.read_text().replace("initrd_size: 6M", "initrd_size: 24M"))
    _git(repo, "commit", "-q", "-am", "bigger crash initrd")
    return repo


def test_two_revisions_of_one_profile(profile_repo: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(profile_repo)
    code = main_review("diff", ["--rev", "HEAD~1..HEAD", "chromebook/board-4g.yaml"])
    out = capsys.readouterr().out
    assert code == 3, out
    # the base changed, the board did not: extends is followed in both revisions
    assert "chromebook-4g (chromebook/board-4g.yaml@HEAD~1 -> chromebook/board-4g.yaml@HEAD)" in out
    assert "~ crashkernel=224M -> crashkernel=288M  (+64 MiB)" in out  # 3 x 18M more initrd, aligned to 16M
    assert "memory lost while armed" in out
    assert_golden(GOLDEN / "diff-rev-chromebook-4g.txt", out)
    assert main_review("diff", ["--rev", "HEAD..", "chromebook/board-4g.yaml"]) == 0
    family = profile_repo / "chromebook" / "family.yaml"
    family.write_text("# a comment moves every line\n" + family.read_text())
    assert main_review("diff", ["--rev", "HEAD..", "chromebook/board-4g.yaml"]) == 0
    assert main_review("diff", ["--rev", "nosuchrev..HEAD", "chromebook/board-4g.yaml"]) == 1


def test_revision_whose_base_lives_in_another_directory(profile_repo: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """extends: ../family/... resolves inside the revision's copy (its own profile tree)."""
    (profile_repo / "family").mkdir()
    _git(profile_repo, "mv", "chromebook/family.yaml", "family/chromebook.yaml")
    board = profile_repo / "chromebook" / "board-4g.yaml"
    board.write_text(board.read_text().replace("extends: family.yaml", "extends: ../family/chromebook.yaml"))
    _git(profile_repo, "commit", "-q", "-am", "bases in their own folder")
    monkeypatch.chdir(profile_repo)
    assert main_review("diff", ["--rev", "HEAD..", "chromebook/board-4g.yaml"]) == 0, capsys.readouterr()
    capsys.readouterr()
    assert main_review("diff", ["--rev", "HEAD~1..HEAD", "chromebook/board-4g.yaml"]) == 3
    assert "~ extends chain: chromebook/board-4g.yaml <- chromebook/family.yaml -> chromebook/board-4g.yaml <- " \
        "family/chromebook.yaml" in capsys.readouterr().out


def _mutated(doc: object, target: str, pointer: str = "") -> object:
    if isinstance(doc, dict):
        return {k: _mutated(v, target, f"{pointer}/{escape(k)}") for k, v in doc.items()}
    if isinstance(doc, list):
        return [_mutated(v, target, f"{pointer}/{i}") for i, v in enumerate(doc)]
    if pointer != target:
        return doc
    if isinstance(doc, bool):
        return not doc
    if isinstance(doc, int):
        return doc + 4096
    if isinstance(doc, str):
        return doc + " x" if doc else "x"
    return 0  # null


@pytest.mark.parametrize("name", ["qemu-4g.json", "server-64g-2node.json"])
def test_every_value_change_is_reported(name: str) -> None:
    """No value of layout.json can change silently: mutate each one, the diff must say changed, or the
    layout.json reader must refuse the mutated document (a value outside its vocabulary, or a repeated
    value that no longer matches). Input positions (file, line, col of provenance inputs) are the only
    exception."""
    doc = fixture(name)
    for pointer, _value in leaves(doc):
        mutated = _mutated(doc, pointer)
        if re.match(r"^/provenance/.*/inputs/\d+/(file|line|col)$", pointer):
            assert not diff(doc, mutated).changed  # type: ignore[arg-type]
            continue
        try:
            layout_json.read(mutated)
        except layout_json.LayoutJsonError:
            with pytest.raises(layout_json.LayoutJsonError):
                diff(doc, mutated)  # type: ignore[arg-type]
            continue
        result = diff(doc, mutated)  # type: ignore[arg-type]
        assert result.changed, f"a change of {pointer} is not reported"
