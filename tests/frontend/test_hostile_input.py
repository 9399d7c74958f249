"""Hostile input gets a clean diagnostic quickly: no traceback, nothing written, nothing executed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

# kernel.config on the kernel line (one line, so the line numbers below stay): the options this design uses
CONFIG = ("{KEXEC: y, CRASH_DUMP: y, PROC_VMCORE: y, X86_PMEM_LEGACY: y, LIBNVDIMM: y, BLK_DEV_PMEM: y, "
          "EXT4_FS: y, ZONE_DEVICE: y, ND_PFN: y, DEV_DAX: y, DEV_DAX_PMEM: y, DEV_DAX_KMEM: y, MEMORY_HOTPLUG: y}")
GOOD = "schema_version: 1\nboard: t\n" + 'kernel: {version: "7.2", config: ' + CONFIG + "}\n" + """memory:
  srat: true
  map:
    - {start: 0x100000, end: 0xbffe0000, type: ram}
    - {start: 0x100000000, end: 0x140000000, type: ram}
"""


def _check(run_cli, path: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    started = time.monotonic()
    result = run_cli("compile", str(path), "-o", str(out))
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"took {elapsed:.2f}s"
    assert result.code == 1, (result.out, result.err)
    assert "Traceback" not in result.err and "internal error" not in result.err
    assert not out.exists(), "nothing may be written for invalid input"
    return result


def test_missing_file(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = _check(run_cli, tmp_path / "nope.yaml", tmp_path)
    assert result.err == (f"error[LC001]: no such file: {tmp_path}/nope.yaml\n"
                          "  = hint: check the path; profiles usually live in profiles/\n")


def test_a_directory_with_no_profiles(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "empty").mkdir()
    result = _check(run_cli, tmp_path / "empty", tmp_path)
    assert result.err == (f"error[LC006]: no profiles found in {tmp_path}/empty\n"
                          "  = hint: profiles are *.yaml files; abstract bases alone compile to nothing\n")


def test_a_directory_named_like_a_profile(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "dir.yaml").mkdir()
    result = run_cli("check", str(tmp_path / "dir.yaml" / "x" / ".."))
    assert result.code == 1
    from layoutc.diagnostics.diagnostic import Diagnostics
    from layoutc.frontend.yaml_source import load

    diags = Diagnostics()
    assert load(tmp_path / "dir.yaml", "dir.yaml", diags) is None
    assert [d.code for d in diags.items] == ["LC002"]
    assert diags.items[0].message == "dir.yaml is a directory, not a profile"


def test_ten_megabytes_of_junk(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    junk = tmp_path / "junk.yaml"
    junk.write_bytes(b"x: " + b"A" * (10 << 20))
    result = _check(run_cli, junk, tmp_path)
    assert result.err == (f"{junk}:1:1: error[LC003]: file is larger than 1024 KiB; a profile is a few KiB\n"
                          "  = hint: is this the right file?\n")


def test_invalid_utf8(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(GOOD.encode() + b"description: caf\xe9\n")
    result = _check(run_cli, bad, tmp_path)
    assert result.err == (f"{bad}:9:17: error[LC004]: invalid UTF-8 (byte 0xe9 at offset {len(GOOD) + 16})\n"
                          "  = rule: profiles are UTF-8 text\n  = hint: save the file as UTF-8\n")


def test_nul_bytes(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "nul.yaml"
    bad.write_bytes(b"schema_version: 1\nboard: a\x00b\n")
    result = _check(run_cli, bad, tmp_path)
    assert result.err == (f"{bad}:2:9: error[LC005]: control character U+0000 in the file\n"
                          "  = rule: profiles are plain text\n  = hint: remove the character; is this a binary file?\n")


def test_twenty_thousand_deep_nesting(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    deep = tmp_path / "deep.yaml"
    deep.write_text("x: " + "[" * 20000 + "]" * 20000 + "\n")
    result = _check(run_cli, deep, tmp_path)
    assert "error[LC012]: nesting deeper than 32 levels" in result.err


def test_deep_block_nesting(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    deep = tmp_path / "deep.yaml"
    deep.write_text("".join(" " * i + f"k{i}:\n" for i in range(1000)))
    result = _check(run_cli, deep, tmp_path)
    assert "error[LC012]" in result.err


def test_billion_laughs(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    result = _check(run_cli, bomb, tmp_path)
    assert "error[LC015]: aliases expand to more than 20000 values" in result.err


@pytest.mark.parametrize("tag", [
    "!!python/object/apply:os.system",
    "!!python/object/new:os.system",
    "!!python/name:os.system",
    "!!binary",
    "!custom",
])
def test_tags_never_execute(run_cli, tmp_path: Path, tag: str) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f'schema_version: 1\nboard: {tag} ["touch {marker}"]\n')
    result = _check(run_cli, evil, tmp_path)
    assert "error[LC013]" in result.err
    assert not marker.exists()


def test_abstract_profile_alone(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base = tmp_path / "base.yaml"
    base.write_text("schema_version: 1\nboard: fam\nabstract: true\n")
    result = _check(run_cli, base, tmp_path)
    assert result.err == (
        f"{base}:3:11: error[LC230]: abstract: {base} is abstract (a family base) and is never compiled alone\n"
        "  = rule: abstract profiles are bases for boards that extend them\n"
        "  = hint: compile a board that extends it, or the directory that holds the boards\n")


def test_two_boards_with_one_name(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    (fleet / "a.yaml").write_text(GOOD)
    (fleet / "b.yaml").write_text(GOOD)
    result = run_cli("check", "--solve", str(fleet))
    assert result.code == 1
    assert result.err == (
        f"{fleet}/b.yaml:2:8: error[LC231]: board: board 't' is defined twice\n"
        f"  = note: first here ({fleet}/a.yaml:2:8)\n"
        "  = rule: board names the output directory in a fleet\n"
        "  = hint: give each board its own name\n")
