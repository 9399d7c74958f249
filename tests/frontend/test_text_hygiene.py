"""Characters that hide, reorder or split text are refused in every profile string (and comment).

The hostile characters are generated here, never checked in: a literal right-to-left override in
a test file would itself be the trick it tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_hostile_input import GOOD


def _write(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(GOOD.replace("board: t\n", f"board: t\n{line}\n"), encoding="utf-8")
    return path


@pytest.mark.parametrize(("char", "name"), [
    ("\u2028", "LINE SEPARATOR"),
    ("\u2029", "PARAGRAPH SEPARATOR"),
    ("\u00a0", "NO-BREAK SPACE"),
    ("\u202a", "LEFT-TO-RIGHT EMBEDDING"),
    ("\u202e", "RIGHT-TO-LEFT OVERRIDE"),
    ("\u2066", "LEFT-TO-RIGHT ISOLATE"),
    ("\u2069", "POP DIRECTIONAL ISOLATE"),
    ("\u200b", "ZERO WIDTH SPACE"),
    ("\ufeff", "ZERO WIDTH NO-BREAK SPACE"),
    ("\u3000", "IDEOGRAPHIC SPACE"),
    ("\U000e0041", "TAG LATIN CAPITAL LETTER A"),
])
def test_invisible_and_layout_characters_in_a_string(run_cli, tmp_path: Path, char: str, name: str) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, f"description: plain{char}text")
    result = run_cli("check", str(path))
    assert result.code == 1
    assert result.err == (
        f"{path}:3:19: error[LC008]: invisible or layout character U+{ord(char):04X} ({name}) in the file\n"
        "  = rule: profiles are plain text: no format characters (bidi controls, zero-width characters), no Unicode "
        "line or paragraph separators, no spaces but U+0020\n"
        "  = hint: delete it and retype the text around it; write an ASCII space where a space is meant\n")


def test_a_bidi_override_in_a_comment(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, "# reviewed \u202e  :enoD")
    result = run_cli("check", str(path))
    assert result.code == 1 and f"{path}:3:12: error[LC008]: invisible or layout character U+202E" in result.err


def test_a_no_break_space_in_the_kernel_cmdline(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "p.yaml"
    cmdline = 'kernel: {version: "7.2", cmdline: "quiet\u00a0splash", '
    path.write_text(GOOD.replace('kernel: {version: "7.2", ', cmdline))
    result = run_cli("check", str(path))
    assert result.code == 1 and "error[LC008]: invisible or layout character U+00A0 (NO-BREAK SPACE)" in result.err


@pytest.mark.parametrize("code_point", [0x80, 0x85, 0x9b, 0x9f])
def test_c1_control_characters(run_cli, tmp_path: Path, code_point: int) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, f"description: a{chr(code_point)}b")
    result = run_cli("check", str(path))
    assert result.code == 1
    assert result.err == (f"{path}:3:15: error[LC005]: control character U+{code_point:04X} in the file\n"
                          "  = rule: profiles are plain text\n"
                          "  = hint: remove the character; is this a binary file?\n")


@pytest.mark.parametrize(("escape", "code", "message"), [
    ("\\N", "LC107", "'a\\u0085b' contains a control character (newline, tab, escape)"),
    ("\\x85", "LC107", "'a\\u0085b' contains a control character (newline, tab, escape)"),
    ("\\_", "LC008", "'a\\u00a0b' holds the invisible or layout character U+00A0 (NO-BREAK SPACE) at character 2"),
    ("\\L", "LC008", "'a\\u2028b' holds the invisible or layout character U+2028 (LINE SEPARATOR) at character 2"),
    ("\\P", "LC008", "'a\\u2029b' holds the invisible or layout character U+2029 (PARAGRAPH SEPARATOR) at "
                     "character 2"),
    ("\\u202e", "LC008", "'a\\u202eb' holds the invisible or layout character U+202E (RIGHT-TO-LEFT OVERRIDE) at "
                         "character 2"),
])
def test_escapes_that_make_such_characters(run_cli, tmp_path: Path, escape: str, code: str, message: str) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, f'description: "a{escape}b"')
    result = run_cli("check", str(path))
    assert result.code == 1
    assert f"{path}:3:14: error[{code}]: description: {message}\n" in result.err


def test_a_key_with_an_escaped_override_is_shown_escaped(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, '"x\\u202ey": 1')
    result = run_cli("check", "--format", "json", str(path))
    assert result.code == 1
    codes = {d["code"]: d for d in json.loads(result.out)["diagnostics"]}
    assert codes["LC008"]["path"] == '"x\\u202ey"'
    assert codes["LC101"]["message"] == "unknown key 'x\\u202ey'"
    text = run_cli("check", str(path)).err
    assert "\u202e" not in text


def test_ordinary_non_ascii_text_is_fine(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, "description: Kühlschrank-Board, 4 GiB — café")
    assert run_cli("check", str(path)).code == 0
