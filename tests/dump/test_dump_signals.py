"""SIGTERM, SIGINT and SIGHUP mid-dump: a real dumper process, slowed down, receives the signal.

The dumper must stop within a moment, keep what it wrote, mark it INCOMPLETE where readers see it
(kdump: the header's DUMP_DH_COMPRESSED_INCOMPLETE; ELF: segments cut at the last written page
plus the LAYOUTC note; flat: the same records, then the end record), print one line and exit 4.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import kdump_layout
import pytest
import vmcore_fixtures as fixtures
from test_dump_faults import INCOMPLETE, assert_readable, check_incomplete_elf

from conftest import SRC, need_module, need_tool
from layoutc.dump.read import elf_input as elf
from layoutc.dump.read import vmcore_source as source

# Runs the dumper with every window's encoding slowed down; touches READY once a few windows
# are through, or (STALL_PARSE) stalls while parsing, before any output exists.
SLOW = """
import os, pathlib, sys, time
from layoutc.dump import __main__ as cli
from layoutc.dump.read import elf_input as elf
from layoutc.dump.write import encode

ready = pathlib.Path(os.environ["READY"])
encode_window = encode.Encoder.encode
parse = elf.parse
seen = []

def slow_encode(self, *args, **kwargs):
    seen.append(1)
    if len(seen) == 3:
        ready.touch()
    time.sleep(0.2)
    return encode_window(self, *args, **kwargs)

def stalled_parse(*args, **kwargs):
    ready.touch()
    time.sleep(30)
    return parse(*args, **kwargs)

encode.Encoder.encode = slow_encode
if os.environ.get("STALL_PARSE"):
    elf.parse = stalled_parse
sys.exit(cli.main())
"""


def interrupted(tmp_path: Path, args: list[str], signum: int, **env: str) -> subprocess.CompletedProcess[bytes]:
    """Start the slowed dumper, send ``signum`` once it is writing, return how it ended."""
    script = tmp_path / "slow.py"
    script.write_text(SLOW)
    ready = tmp_path / "ready"
    full = dict(os.environ, PYTHONPATH=str(SRC), READY=str(ready), **env)
    stdout = open(tmp_path / "stdout", "wb")  # noqa: SIM115  # closed below
    with stdout:
        proc = subprocess.Popen(
            [sys.executable, str(script), "--quiet", *args], stdout=stdout, stderr=subprocess.PIPE, env=full
        )
        deadline = time.monotonic() + 20
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ready.exists(), "the dumper never got going"
        started = time.monotonic()
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=20)
    assert time.monotonic() - started < 5, "the dumper did not stop promptly"
    return subprocess.CompletedProcess(proc.args, proc.returncode, (tmp_path / "stdout").read_bytes(), err)


def one_line(proc: subprocess.CompletedProcess[bytes]) -> str:
    text = proc.stderr.decode()
    assert "Traceback" not in text, text
    assert len(text.splitlines()) == 1, text
    return text.rstrip("\n")


@pytest.mark.parametrize(("signum", "workers"), [(signal.SIGTERM, "1"), (signal.SIGINT, "2"), (signal.SIGHUP, "1")])
def test_signal_mid_kdump_leaves_a_marked_readable_dump(
    tmp_path: Path, make_vmcore: Any, signum: signal.Signals, workers: str
) -> None:
    fx, src = make_vmcore()
    out = tmp_path / "vmcore.kdump"
    proc = interrupted(tmp_path, ["--workers", workers, src, str(out)], signum)
    assert proc.returncode == 4
    name = signal.Signals(signum).name
    assert one_line(proc) == f"layoutc dump: error: interrupted by {name}; the dump is INCOMPLETE"
    assert kdump_layout.read(str(out)).status & INCOMPLETE
    dumped = assert_readable(str(out), fx, at_least=100)  # the windows encoded before the signal
    assert len(dumped) < len(kdump_layout.read(str(out)).present) / 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_libkdumpfile_reads_the_interrupted_dump(tmp_path: Path, make_vmcore: Any) -> None:
    kdumpfile: Any = need_module("kdumpfile")
    fx, src = make_vmcore()
    out = tmp_path / "vmcore.kdump"
    assert interrupted(tmp_path, [src, str(out)], signal.SIGTERM).returncode == 4
    k = kdumpfile.kdumpfile(str(out))
    k.attr["addrxlat.ostype"] = "linux"
    dumped = kdump_layout.read(str(out)).dumped
    for pfn in dumped[:: max(1, len(dumped) // 64)]:
        got = bytes(k.read(kdumpfile.KDUMP_MACHPHYSADDR, pfn * fixtures.PS, fixtures.PS))
        assert got == fixtures.expected_page(fx, pfn), f"pfn {pfn:#x}"
    with pytest.raises(kdumpfile.exceptions.NoDataException):  # a page the dump lacks: not zeros
        k.read(kdumpfile.KDUMP_MACHPHYSADDR, (max(dumped) + 1) * fixtures.PS, fixtures.PS)


def test_signal_mid_elf_cuts_every_segment_to_the_file(tmp_path: Path, make_vmcore: Any) -> None:
    fx, src = make_vmcore()
    out = tmp_path / "vmcore.elf"
    proc = interrupted(tmp_path, ["--format", "elf", src, str(out)], signal.SIGTERM)
    assert proc.returncode == 4
    assert one_line(proc) == "layoutc dump: error: interrupted by SIGTERM; the dump is INCOMPLETE"
    size = out.stat().st_size
    reader = source.FileReader(str(out))
    try:
        meta = elf.parse(reader, str(out))
    finally:
        reader.close()
    assert all(ph.p_offset + ph.p_filesz <= size for ph in meta.loads if ph.p_filesz)
    assert sum(ph.p_filesz for ph in meta.loads) < sum(size for _, size in fx.ranges)
    check_incomplete_elf(str(out), fx)


def test_signal_mid_flat_stream_reassembles_incomplete(tmp_path: Path, make_vmcore: Any) -> None:
    makedumpfile = need_tool("makedumpfile")
    fx, src = make_vmcore()
    proc = interrupted(tmp_path, ["--format", "flat", src, "-"], signal.SIGINT)
    assert proc.returncode == 4
    assert proc.stdout.endswith(b"\xff" * 16)  # END_FLAG_FLAT_HEADER: the stream ended on purpose
    flat = tmp_path / "stream"
    flat.write_bytes(proc.stdout)
    out = tmp_path / "reassembled"
    with open(flat, "rb") as stdin:
        subprocess.run([makedumpfile, "-R", str(out)], stdin=stdin, check=True, capture_output=True)
    assert kdump_layout.read(str(out)).status & INCOMPLETE
    assert_readable(str(out), fx, at_least=100)
    # A stream cut short (the dumper killed) lacks the end record; makedumpfile -R then waits for
    # more data (measured: 10 minutes) and fails, so that is not run here.


def test_signal_before_the_output_exists(tmp_path: Path, make_vmcore: Any) -> None:
    _, src = make_vmcore()
    out = tmp_path / "vmcore.kdump"
    proc = interrupted(tmp_path, [src, str(out)], signal.SIGTERM, STALL_PARSE="1")
    assert proc.returncode == 4
    assert one_line(proc) == "layoutc dump: error: interrupted by SIGTERM before the output was written; no output"
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_sigkill_leaves_only_the_temporary_file(tmp_path: Path, make_vmcore: Any) -> None:
    """Killed outright, the dumper cannot mark anything: no file appears under the output's name."""
    _, src = make_vmcore()
    out = tmp_path / "vmcore.kdump"
    proc = interrupted(tmp_path, [src, str(out)], signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    (partial,) = [p for p in tmp_path.iterdir() if p.name.startswith(".vmcore.kdump.layoutc-")]
    assert partial.name.endswith(".part")
