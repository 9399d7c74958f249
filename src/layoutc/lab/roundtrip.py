"""The probe round trip: what the guest's kernel reports about its memory, imported, must match the profile.

The guest captures the raw files ``layoutc probe`` reads (iomem, lsmem, block_size_bytes, cmdline, uname -r,
zoneinfo, dmesg) from the *baseline* boot (no layout parameters), the host runs ``layoutc import`` on them in
a child process, and the imported board (RAM map, nodes, SRAT, block size) is compared with layout.json's.
Running ``layoutc probe`` itself inside the guest needs Python there (9p host root), which the cloud kernels
cannot mount (no 9p); the capture is the same set of files, so only probe's reading code is not exercised.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from layoutc.lab.compare import Fact, memparse
from layoutc.lab.layoutview import LayoutView

MiB = 1 << 20


def child_env() -> dict[str, str]:
    """The environment for a ``python -m layoutc.cli`` child: this very package first on PYTHONPATH."""
    import layoutc

    root = str(Path(layoutc.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def _int(value: Any) -> int:
    return value if isinstance(value, int) else memparse(str(value))


def _ram(entries: list[tuple[int, int, int | None]]) -> str:
    spans = sorted((max(s, MiB), e, n) for s, e, n in entries if e > MiB)
    return ", ".join(f"[{s:#x}, {e:#x}) node {n}" for s, e, n in spans) or "none"


def import_roundtrip(layout: LayoutView, sysinfo: Path, out_dir: Path) -> list[Fact]:
    """Run ``layoutc import`` on the guest's capture and compare the imported board with ``layout``."""
    if _carved(sysinfo):
        why = "map carved with memmap= on the board's cmdline: the firmware map the importer reads is QEMU's"
        return [Fact("probe round trip", "skip", layout.board, "n/a", why)]
    dest = out_dir / "imported-profile.yaml"
    board = layout.board or "lab"
    argv = [sys.executable, "-m", "layoutc.cli", "import", str(sysinfo), "--board", board, "-o", str(dest)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, env=child_env())
    if proc.returncode != 0 or not dest.is_file():
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        return [
            Fact(
                "probe round trip",
                "fail",
                "import succeeds",
                f"layoutc import exited {proc.returncode}",
                tail,
            )
        ]
    data = yaml.safe_load(dest.read_text())
    memory = data.get("memory", {}) if isinstance(data, dict) else {}
    entries = [e for e in memory.get("map", []) if e.get("type") == "ram"]
    imported = [(_int(e["start"]), _int(e["end"]), e.get("node")) for e in entries]
    expected = [(e.start, e.end, e.node) for e in layout.memory.ram]
    if not layout.memory.srat:
        imported = [(s, e, None) for s, e, _ in imported]
        expected = [(s, e, None) for s, e, _ in expected]
    facts = [
        _same("round trip: RAM map", _ram(expected), _ram(imported)),
        _same(
            "round trip: block size",
            f"{layout.memory.block_size:#x}",
            f"{_int(memory.get('block_size', 0)):#x}",
        ),
        _same("round trip: SRAT", str(layout.memory.srat), str(bool(memory.get("srat", False)))),
    ]
    return facts


def _same(name: str, predicted: str, observed: str) -> Fact:
    detail = "layoutc import of the guest's capture (imported-profile.yaml)"
    return Fact(name, "pass" if predicted == observed else "fail", predicted, observed, detail)


def _carved(sysinfo: Path) -> bool:
    cmdline = sysinfo / "cmdline"  # the baseline boot: only the board's words, so memmap= means carving
    return cmdline.is_file() and any(w.startswith("memmap=") for w in cmdline.read_text().split())
