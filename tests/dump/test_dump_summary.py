"""The summary line: per-class counts equal makedumpfile's report in every format (exact text)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import kernel_fixture
import pytest
from test_dump_pageclass import oracle

from conftest import SRC

# makedumpfile --message-level 31 report lines → our reasons, in its order
REPORT = {
    "Pages filled with zero": "zero",
    "Non-private cache pages": "cache",
    "Private cache pages": "cache_private",
    "User process data pages": "user",
    "Free pages": "free",
    "Hwpoison pages": "hwpoison",
    "Offline pages": "offline",
}
FORMATS = {"kdump": ["-c"], "elf": ["-E"], "flat": ["-c", "-F"]}


def report(text: str, label: str) -> int:
    m = re.search(rf"{label}\s*: 0x([0-9a-f]+)", text)
    assert m, f"no '{label}' in makedumpfile's report"
    return int(m.group(1), 16)


def overlap_pages(fx: object) -> int:
    """Pages covered by two PT_LOADs (the kernel text inside RAM), which makedumpfile counts twice."""
    text = getattr(fx, "kernel_text", None)
    return 0 if text is None else text[1] // 4096


@pytest.mark.tools
@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("level", [1, 31])
def test_summary_counts_equal_makedumpfile_report(tmp_path: Path, level: int, fmt: str) -> None:
    kern = kernel_fixture.Kernel("6.1")
    fx = kern.fixture()
    path = fx.write(str(tmp_path / "vmcore"))
    found = oracle(kern, fx, path, tmp_path)
    assert found is not None
    cmd, src = found
    theirs = tmp_path / "theirs"
    args = [*cmd, *FORMATS[fmt], "--message-level", "31", "-d", str(level), src]
    if fmt == "flat":
        with open(theirs, "wb") as out:
            proc = subprocess.run(args, stdout=out, stderr=subprocess.PIPE)
    else:
        proc = subprocess.run([*args, str(theirs)], capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    text = (proc.stdout or b"").decode(errors="replace") + proc.stderr.decode(errors="replace")
    ours = tmp_path / "ours"
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
    mine = subprocess.run(
        [sys.executable, "-m", "layoutc.dump", "--format", fmt, "--compress", "none" if fmt == "elf" else "zlib",
         "--dump-level", str(level), path, str(ours) if fmt != "flat" else "-"],
        capture_output=True, env=env,
    )  # fmt: skip
    assert mine.returncode == 0, mine.stderr.decode()
    line = mine.stderr.decode().strip().splitlines()[-1]
    counts = {reason: report(text, label) for label, reason in REPORT.items()}
    present = report(text, "Original pages") - overlap_pages(fx)
    kept = report(text, "Remaining pages") - overlap_pages(fx)
    excluded = ", ".join(f"{reason} {n}" for reason, n in counts.items() if n)
    assert counts["zero"] > 0
    assert re.sub(r"; \d+ bytes$", "", line) == f"layoutc dump: {kept} of {present} pages kept (excluded: {excluded})"
