"""The compile driver and the CLI contract: fleet layout, manifest, determinism, --check, atomicity."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from .conftest import REPO

PROFILES = REPO / "profiles"


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_fleet_compile_layout_and_manifest(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    result = run_cli("compile", str(PROFILES), "-o", str(out))
    assert result.code == 0, result.err
    boards = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert "chromebook-family" not in boards, "abstract profiles are never compiled"
    assert {"qemu-4g", "qemu-4g-cma", "qemu-8g-numa2", "chromebook-4g", "server-64g-2node", "arm64-8g"} <= set(boards)
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {a["path"] for a in manifest["artifacts"]}
    on_disk = set(_tree(out)) - {"manifest.json"}
    assert listed == on_disk
    for artifact in manifest["artifacts"]:
        data = (out / artifact["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == artifact["sha256"]
        assert artifact["role"] and artifact["board"] in boards
        assert not Path(artifact["profile"]).is_absolute()
    for board in boards:
        assert (out / board / "layout.json").is_file()


def test_single_profile_goes_to_out_directly(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "one"
    result = run_cli("compile", str(PROFILES / "qemu" / "qemu-4g.yaml"), "-o", str(out))
    assert result.code == 0, result.err
    assert (out / "layout.json").is_file() and (out / "manifest.json").is_file()
    assert json.loads((out / "layout.json").read_text())["board"] == "qemu-4g"


def test_outputs_are_deterministic_and_carry_no_absolute_paths(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    copy = tmp_path / "elsewhere" / "profiles"
    shutil.copytree(PROFILES, copy)
    first, second = tmp_path / "a", tmp_path / "b"
    assert run_cli("compile", str(PROFILES), "-o", str(first)).code == 0
    assert run_cli("compile", str(PROFILES), "-o", str(second)).code == 0
    assert _tree(first) == _tree(second)
    for name, data in _tree(first).items():
        assert str(REPO).encode() not in data, f"{name} carries an absolute path"
        assert b"2026-" not in data and b"2025-" not in data, f"{name} looks timestamped"


def test_check_reports_stale_and_current(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    profile = str(PROFILES / "qemu" / "qemu-4g.yaml")
    missing = run_cli("compile", profile, "-o", str(out), "--check")
    assert missing.code == 3 and "stale:" in missing.out and not out.exists()
    assert run_cli("compile", profile, "-o", str(out)).code == 0
    current = run_cli("compile", profile, "-o", str(out), "--check")
    assert current.code == 0, current.out
    (out / "layout.txt").write_text("edited by hand\n")
    changed = run_cli("compile", profile, "-o", str(out), "--check")
    assert changed.code == 3 and f"stale: {out}/layout.txt (changed)" in changed.out
    assert (out / "layout.txt").read_text() == "edited by hand\n", "--check never writes"


def test_unchanged_files_are_not_rewritten(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    profile = str(PROFILES / "qemu" / "qemu-4g.yaml")
    assert run_cli("compile", profile, "-o", str(out)).code == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = run_cli("compile", profile, "-o", str(out))
    assert again.code == 0 and "0 written" in again.out
    assert before == {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def test_one_invalid_profile_writes_nothing_for_the_fleet(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fleet = tmp_path / "fleet"
    shutil.copytree(PROFILES, fleet)
    (fleet / "broken.yaml").write_text("schema_version: 1\nboard: broken\nkernel: {version: '7.2'}\n")
    out = tmp_path / "out"
    result = run_cli("compile", str(fleet), "-o", str(out))
    assert result.code == 1
    assert "broken.yaml:1:1: error[LC212]" in result.err
    assert not out.exists()


def test_summary_tables(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    assert run_cli("compile", str(PROFILES), "-o", str(out), "--summary").code == 0
    text = (out / "summary.txt").read_text()
    markdown = (out / "summary.md").read_text()
    for board in ("qemu-4g", "server-64g-2node", "arm64-8g"):
        assert board in text and board in markdown
    assert markdown.lstrip().startswith("|") or "| board" in markdown


def test_usage_errors_exit_2(run_cli) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("compile", str(PROFILES)).code == 2
    assert run_cli("no-such-verb").code == 2
    assert run_cli("--help").code == 0


def test_json_diagnostics_on_stdout(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\nboard: b\nwindw: {}\n")
    result = run_cli("check", "--format", "json", str(bad))
    assert result.code == 1
    data = json.loads(result.out)
    codes = [d["code"] for d in data["diagnostics"]]
    assert "LC101" in codes
    unknown = data["diagnostics"][codes.index("LC101")]
    assert unknown["hint"] == "did you mean 'window'?" and unknown["line"] == 3 and unknown["col"] == 1


def test_an_empty_output_path_is_a_usage_error(run_cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    result = run_cli("compile", str(PROFILES / "qemu" / "qemu-4g.yaml"), "-o", "")
    assert result.code == 2
    assert result.err == ("layoutc compile: error: -o/--output must name a directory (an empty path would mean "
                          "the working directory)\n")
    assert list(tmp_path.iterdir()) == []


def test_two_writers_into_one_directory_never_mix(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Run A pauses after its first rename and lets run B go: every file must still come from one run."""
    import os
    import threading
    import time

    from layoutc.writer import tree as output

    out = tmp_path / "out"
    runs = {name: [output.OutputFile(f"board/f{i}", name.encode() * (i + 1)) for i in range(6)] for name in "AB"}
    a_paused = threading.Event()
    real_replace = os.replace

    def replace_then_pause(*args, **kwargs):  # type: ignore[no-untyped-def]
        real_replace(*args, **kwargs)
        if threading.current_thread().name == "A" and not a_paused.is_set():
            a_paused.set()
            time.sleep(0.5)  # without the lock, B writes all of its files here

    def run_b() -> None:
        a_paused.wait(10)
        output.write_tree(out, runs["B"])

    monkeypatch.setattr(os, "replace", replace_then_pause)
    threads = [threading.Thread(target=output.write_tree, args=(out, runs["A"]), name="A"),
               threading.Thread(target=run_b, name="B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    origins = {(out / f.relpath).read_bytes()[:1] for f in runs["A"]}
    assert origins == {b"B"}, f"files from both runs: {sorted(origins)}"


def test_a_symlinked_folder_in_the_output_is_refused(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, victim = tmp_path / "out", tmp_path / "victim"
    out.mkdir()
    victim.mkdir()
    (out / "cmdline").symlink_to(victim)
    result = run_cli("compile", str(PROFILES / "qemu" / "qemu-4g.yaml"), "-o", str(out))
    assert result.code == 4
    assert result.err == (f"layoutc: cannot write into {out}: {out}/cmdline is a symbolic link; layoutc never writes "
                          "through links in its output (remove the link, then compile again)\n")
    assert list(victim.iterdir()) == []
    assert sorted(p.name for p in out.iterdir()) == ["cmdline"], "nothing is written"
    stale = run_cli("compile", str(PROFILES / "qemu" / "qemu-4g.yaml"), "-o", str(out), "--check")
    assert stale.code == 3 and f"stale: {out}/cmdline/production.txt (symlink)" in stale.out


def test_a_symlinked_file_in_the_output_is_refused(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    out.mkdir()
    victim.write_text("keep me\n")
    (out / "manifest.json").symlink_to(victim)
    result = run_cli("compile", str(PROFILES / "qemu" / "qemu-4g.yaml"), "-o", str(out))
    assert result.code == 4 and f"{out}/manifest.json is a symbolic link" in result.err
    assert victim.read_text() == "keep me\n"
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]


def _fleet_copy(tmp_path: Path) -> Path:
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    shutil.copy(PROFILES / "qemu" / "qemu-4g.yaml", fleet / "qemu-4g.yaml")
    shutil.copy(PROFILES / "origin-thread-4g.yaml", fleet / "origin.yaml")
    return fleet


def test_check_reports_orphans_of_a_renamed_board(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fleet, out = _fleet_copy(tmp_path), tmp_path / "out"
    assert run_cli("compile", str(fleet), "-o", str(out)).code == 0
    (out / "mine").mkdir()
    (out / "mine" / "notes.txt").write_text("kept\n")
    profile = fleet / "qemu-4g.yaml"
    profile.write_text(profile.read_text().replace("board: qemu-4g", "board: qemu-4g-renamed"))
    assert run_cli("compile", str(fleet), "-o", str(out), "--check").code == 3
    (out / "stray.txt").write_text("x\n")
    first = run_cli("compile", str(fleet), "-o", str(out))
    assert first.code == 0 and first.out.endswith(" removed\n"), first.out
    assert not (out / "qemu-4g").exists(), "a folder the old manifest filled is removed once empty"
    assert (out / "mine" / "notes.txt").is_file() and (out / "stray.txt").is_file(), "never others"
    check = run_cli("compile", str(fleet), "-o", str(out), "--check")
    assert check.code == 3 and check.out == f"orphaned: {out}/stray.txt\n"
    (out / "stray.txt").unlink()
    assert run_cli("compile", str(fleet), "-o", str(out), "--check").code == 0


def test_check_lists_each_orphan(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    profile = str(PROFILES / "qemu" / "qemu-4g.yaml")
    assert run_cli("compile", profile, "-o", str(out)).code == 0
    (out / "device" / "old.sh").write_text("x\n")
    check = run_cli("compile", profile, "-o", str(out), "--check")
    assert check.code == 3 and check.out == f"orphaned: {out}/device/old.sh\n"


def test_summaries_are_listed_and_removed_when_no_longer_asked(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fleet, out = _fleet_copy(tmp_path), tmp_path / "out"
    assert run_cli("compile", str(fleet), "-o", str(out), "--summary").code == 0
    roles = {a["path"]: a["role"] for a in json.loads((out / "manifest.json").read_text())["artifacts"]}
    assert roles["summary.txt"] == roles["summary.md"] == "summary"
    check = run_cli("compile", str(fleet), "-o", str(out), "--check")
    assert check.code == 3 and check.out == (f"stale: {out}/manifest.json (changed)\n"
                                             f"orphaned: {out}/summary.md\norphaned: {out}/summary.txt\n")
    assert run_cli("compile", str(fleet), "-o", str(out)).code == 0
    assert not (out / "summary.txt").exists()


def test_outputs_and_check_do_not_depend_on_the_working_directory(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    tree = tmp_path / "repo"
    shutil.copytree(PROFILES, tree / "profiles")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def run(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "layoutc.cli.main", *argv], cwd=cwd, text=True,
                              capture_output=True, check=False, env={**os.environ, "PYTHONPATH": str(REPO / "src")})

    assert run(tree, "compile", "profiles", "-o", "out").returncode == 0
    assert run(tree, "compile", "profiles/qemu/qemu-4g.yaml", "-o", "one").returncode == 0
    for cwd, source, out in ((elsewhere, "../repo/profiles", "../repo/out"),
                             (elsewhere, str(tree / "profiles"), str(tree / "out")),
                             (tree / "profiles", ".", "../out"),
                             (elsewhere, str(tree / "profiles" / "qemu" / "qemu-4g.yaml"), str(tree / "one")),
                             (tree / "profiles" / "qemu", "qemu-4g.yaml", "../../one")):
        check = run(cwd, "compile", source, "-o", out, "--check")
        assert check.returncode == 0, (cwd, source, check.stdout)
