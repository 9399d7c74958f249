"""The makedumpfile-compatible front end: the argv kdump-tools and kdump-utils pass, the same dump out."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import SRC, run_dump
from layoutc.dump.makedumpfile_compat import Usage, translate


def compat(*args: str, pythonpath: str = str(SRC)) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, PYTHONPATH=pythonpath)
    return subprocess.run([sys.executable, "-m", "layoutc.dump.makedumpfile_compat", *args], capture_output=True,
                          env=env)


def test_kdump_tools_argv_is_translated() -> None:
    # kdump-config: MAKEDUMP_ARGS="-c -d 31" plus the -F it appends, then $vmcore_file; stdout is the dump
    assert translate(["-c", "-d", "31", "-F", "/proc/vmcore"]) == [
        "--dump-level", "31", "--compress", "zlib", "--format", "flat", "/proc/vmcore", "-"]
    assert translate(["-cF", "-d31", "/proc/vmcore"])[-4:] == ["--format", "flat", "/proc/vmcore", "-"]


def test_kdump_utils_argv_is_translated() -> None:
    # kdump.sh: $CORE_COLLECTOR /proc/vmcore <path>/vmcore-incomplete, --num-threads appended
    argv = ["-l", "--message-level", "7", "-d", "31", "--num-threads=2", "/proc/vmcore", "/d/vmcore-incomplete"]
    got = translate(argv)
    assert got == ["--dump-level", "31", "--compress", "lzo", "--format", "kdump", "--workers", "2",
                   "/proc/vmcore", "/d/vmcore-incomplete"]
    assert translate(["-d", "1", "a", "b"])[2:4] == ["--compress", "none"]  # no flag: pages stored raw
    assert translate(["-E", "-d", "1", "a", "b"])[4:6] == ["--format", "elf"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--dump-dmesg", "/proc/vmcore", "out"], "--dump-dmesg is not an option this front end takes"),
    (["-c", "-z", "-d", "31", "a", "b"], "more than one compression flag: -c -z"),
    (["-E", "-F", "a"], "-E with -F"),
    (["-c", "-d", "31", "a"], "expected VMCORE DUMPFILE, got 1 file argument(s)"),
    (["-c", "-d", "32", "a", "b"], "-d 32: the dump level is 0-31"),
    (["-x", "vmlinux", "a", "b"], "-x is not an option this front end takes"),
])
def test_what_it_refuses(argv: list[str], message: str) -> None:
    with pytest.raises(Usage, match=message.replace("(", r"\(").replace(")", r"\)")):
        translate(argv)


def test_usage_exit_code() -> None:
    result = compat("--dump-dmesg", "/proc/vmcore", "out")
    assert result.returncode == 2
    assert result.stderr.decode() == ("layoutc makedumpfile: error: --dump-dmesg is not an option this front end "
                                      "takes (docs/distributions.md)\n")


def test_kdump_tools_flattened_stream_equals_the_dumper(make_vmcore: Callable[..., tuple[object, str]]) -> None:
    _, vmcore = make_vmcore()
    mine = compat("-c", "-d", "31", "-F", vmcore)
    plain = run_dump("--dump-level", "31", "--compress", "zlib", "--format", "flat", vmcore, "-")
    assert mine.returncode == 0 and plain.returncode == 0, mine.stderr
    assert mine.stdout[:16] == b"makedumpfile\0\0\0\0" and mine.stdout == plain.stdout


def test_kdump_utils_file_equals_the_dumper(make_vmcore: Callable[..., tuple[object, str]], tmp_path: Path) -> None:
    _, vmcore = make_vmcore()
    out, ref = tmp_path / "vmcore-incomplete", tmp_path / "ref"
    mine = compat("-l", "--message-level", "7", "-d", "31", "--num-threads=2", vmcore, str(out))
    plain = run_dump("--dump-level", "31", "--compress", "lzo", "--workers", "2", vmcore, str(ref))
    assert mine.returncode == plain.returncode, mine.stderr
    if plain.returncode == 0:
        assert out.read_bytes() == ref.read_bytes()


def test_runs_from_the_zipapp(make_vmcore: Callable[..., tuple[object, str]], tmp_path: Path) -> None:
    from layoutc.dump.zipapp import build

    pyz = str(tmp_path / "dump.pyz")
    build(pyz)
    _, vmcore = make_vmcore()
    mine = compat("-c", "-d", "31", "-F", vmcore, pythonpath=pyz)
    plain = run_dump("--dump-level", "31", "--compress", "zlib", "--format", "flat", vmcore, "-")
    assert mine.returncode == 0 and mine.stdout == plain.stdout
