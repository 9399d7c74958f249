"""Hostile files and hostile ``extends``: FIFOs, sockets, link loops, secrets outside the tree.

Anything that could block runs in a child process with a timeout, so a regression fails
instead of hanging the suite.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .test_hostile_input import GOOD

SECRET = "s3cret-marker-7f1c"
CLI = "import sys; from layoutc.cli.main import main; sys.exit(main(sys.argv[1:]))"


def _run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CLI, *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=30, check=False)


def _board(path: Path, extends: str, board: str = "t") -> Path:
    path.write_text(GOOD.replace("board: t\n", f"board: {board}\nextends: {extends}\n"))
    return path


def _base(path: Path) -> Path:
    path.write_text(GOOD.replace("board: t\n", "board: fam\nabstract: true\n"))
    return path


def test_a_fifo_as_the_profile_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.yaml")
    result = _run("check", "fifo.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == ("error[LC007]: fifo.yaml is a FIFO (named pipe), not a profile file\n"
                             "  = rule: profiles are regular files (layoutc never reads pipes, sockets or devices)\n"
                             "  = hint: pass the profile file itself\n")


def test_a_fifo_as_the_base_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "base.yaml")
    _board(tmp_path / "b.yaml", "base.yaml")
    result = _run("compile", "b.yaml", "-o", "out", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("b.yaml:3:10: error[LC007]: extends: base.yaml is a FIFO (named pipe)")
    assert not (tmp_path / "out").exists()


def test_a_fifo_and_a_socket_in_a_profile_directory(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    (fleet / "a.yaml").write_text(GOOD)
    os.mkfifo(fleet / "pipe.yaml")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(fleet / "sock.yml"))
        result = _run("check", "fleet", cwd=tmp_path)
    finally:
        server.close()
    assert result.returncode == 1
    assert "error[LC007]: fleet/pipe.yaml is a FIFO (named pipe), not a profile file" in result.stderr
    assert "error[LC007]: fleet/sock.yml is a socket, not a profile file" in result.stderr


def test_a_symlink_loop_is_a_diagnostic(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    os.symlink("loop-b.yaml", "loop-a.yaml")
    os.symlink("loop-a.yaml", "loop-b.yaml")
    result = run_cli("check", "loop-a.yaml")
    assert result.code == 1
    assert result.err == ("error[LC001]: symbolic link loop: loop-a.yaml\n"
                          "  = rule: a profile path must lead to a file through at most 40 symbolic links\n"
                          "  = hint: point the link at the profile file itself\n")
    _board(tmp_path / "b.yaml", "loop-a.yaml")
    result = run_cli("check", "b.yaml")
    assert result.code == 1
    assert result.err.startswith("b.yaml:3:10: error[LC001]: extends: symbolic link loop: loop-a.yaml\n")


def _secret_file(path: Path) -> Path:
    path.write_text(f"root: {SECRET}\n{SECRET}-key: {SECRET}\nschema: {SECRET}\n")
    return path


@pytest.mark.parametrize(("name", "extends", "message"), [
    ("secret.txt", "{tmp}/secret.txt", "is an absolute path"),
    ("secret", "../outside/secret", "does not end in .yaml or .yml"),
    ("secret.yaml", "../outside/secret.yaml", "leads outside the profile tree"),
])
def test_extends_is_checked_before_it_is_followed(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                                  name: str, extends: str, message: str) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "tree").mkdir()
    _secret_file(tmp_path / "outside" / name)
    (tmp_path / "secret.txt").write_text(f"k: {SECRET}\n")
    _board(tmp_path / "tree" / "b.yaml", extends.format(tmp=tmp_path))
    monkeypatch.chdir(tmp_path / "tree")
    result = run_cli("check", "b.yaml")
    assert result.code == 1
    assert f"error[LC225]: extends: '{extends.format(tmp=tmp_path)}' {message}" in result.err
    assert SECRET not in result.err and "Traceback" not in result.err


def test_a_base_that_is_not_a_profile_is_named_never_quoted(run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _secret_file(tmp_path / "secret.yaml")
    (tmp_path / "dupes.yaml").write_text(f"{SECRET}: 1\n{SECRET}: 2\n")
    (tmp_path / "bad.yaml").write_text(f"{SECRET}: [\n")
    (tmp_path / "scalar.yaml").write_text(f"{SECRET}\n")
    for base in ("secret.yaml", "dupes.yaml", "bad.yaml", "scalar.yaml"):
        _board(tmp_path / "b.yaml", base)
        result = run_cli("check", "b.yaml")
        assert result.code == 1
        assert result.err == (f"b.yaml:3:10: error[LC226]: extends: base {base} is not a profile\n"
                              "  = rule: a base is a profile: a YAML mapping with schema_version (its content is "
                              "not shown)\n  = hint: point extends at the family base profile\n")


def test_a_base_that_is_a_list_is_an_error(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "list.yaml").write_text("schema_version: 1\n")
    (tmp_path / "list.yaml").write_text("- schema_version: 1\n- board: x\n")
    _board(tmp_path / "b.yaml", "list.yaml")
    result = run_cli("check", "b.yaml")
    assert result.code == 1
    assert "error[LC226]: extends: base list.yaml is not a profile" in result.err


def test_a_base_layers_own_extends_is_checked(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "tree").mkdir()
    monkeypatch.chdir(tmp_path / "tree")
    _secret_file(tmp_path / "secret.yaml")
    (tmp_path / "tree" / "fam.yaml").write_text("schema_version: 1\nboard: fam\nabstract: true\n"
                                                "extends: ../secret.yaml\n")
    _board(tmp_path / "tree" / "b.yaml", "fam.yaml")
    result = run_cli("check", "b.yaml")
    assert result.code == 1
    assert result.err.startswith("fam.yaml:4:10: error[LC225]: extends: '../secret.yaml' leads outside the "
                                 "profile tree")
    assert SECRET not in result.err
    (tmp_path / "tree" / "fam.yaml").write_text("schema_version: 1\nboard: fam\nabstract: true\nextends: 7\n")
    result = run_cli("check", "b.yaml")
    assert result.err.startswith("fam.yaml:4:10: error[LC225]: extends: 7 is not a path (extends is one string)")


def test_a_cycle_through_a_base(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f1.yaml").write_text("schema_version: 1\nboard: f\nabstract: true\nextends: f2.yaml\n")
    (tmp_path / "f2.yaml").write_text("schema_version: 1\nboard: f\nabstract: true\nextends: f1.yaml\n")
    _board(tmp_path / "b.yaml", "f1.yaml")
    result = run_cli("check", "b.yaml")
    assert result.code == 1
    assert "error[LC222]: extends: extends cycle: f1.yaml is already in the chain" in result.err


def test_a_symlink_in_a_scanned_directory_may_not_leave_it(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    _secret_file(tmp_path / "secret.yaml")
    (fleet / "link.yaml").symlink_to(tmp_path / "secret.yaml")
    result = run_cli("check", str(fleet))
    assert result.code == 1
    assert f"error[LC225]: {fleet}/link.yaml leads outside the profile tree {fleet}" in result.err
    assert SECRET not in result.err


def test_extends_may_leave_the_directory_inside_a_git_work_tree(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".git").mkdir()
    (tmp_path / "bases").mkdir()
    (tmp_path / "boards").mkdir()
    _base(tmp_path / "bases" / "fam.yaml")
    _board(tmp_path / "boards" / "b.yaml", "../bases/fam.yaml")
    assert run_cli("check", str(tmp_path / "boards")).code == 0
    (tmp_path / ".git").rmdir()
    result = run_cli("check", str(tmp_path / "boards"))
    assert result.code == 1 and "leads outside the profile tree" in result.err


@pytest.mark.parametrize("board", ["manifest.json", "summary.md", "summary.txt"])
def test_a_board_named_like_a_fleet_file(run_cli, tmp_path: Path, board: str) -> None:  # type: ignore[no-untyped-def]
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    (fleet / "a.yaml").write_text(GOOD.replace("board: t\n", f"board: {board}\n"))
    out = tmp_path / "out"
    result = run_cli("compile", str(fleet), "-o", str(out), "--summary")
    assert result.code == 1
    assert result.err == (
        f"{fleet}/a.yaml:2:8: error[LC232]: board: board '{board}' has the name of a fleet file\n"
        "  = rule: in a fleet compile OUT/<board>/ sits beside manifest.json, summary.md, summary.txt\n"
        "  = hint: rename the board\n")
    assert not out.exists()
