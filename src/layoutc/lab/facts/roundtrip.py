"""The probe round trip: probe → import → compile in the guest's kernel must give back the profile's board.

``probe_roundtrip`` (the default ``PROBE_ROUNDTRIP``): the *production* guest runs the real ``layoutc probe
--raw DIR`` (``probezip``: a zipapp of probe's modules on Debian's python3.11) and prints the files it wrote;
the host reads them with ``read_sysinfo``, turns them into a profile with ``import_profile`` (layout
parameters on the captured cmdline are undone), compiles it (``layoutc compile`` in a child process) and
compares the compiled RAM map, block size and SRAT with the original layout.json.

``import_roundtrip`` is the fallback when no probe ran (``LabOptions(guest_probe=False)``): the baseline
boot's shell capture of the same raw files, imported with ``layoutc import`` in a child process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from layoutc.kernel.params import memparse_whole
from layoutc.lab.facts.boot_facts import Fact
from layoutc.lab.layout_dir import load_layout
from layoutc.model.layout import Layout

MiB = 1 << 20


def child_env() -> dict[str, str]:
    """The environment for a ``python -m layoutc.cli.main`` child: this very package first on PYTHONPATH."""
    import layoutc

    root = str(Path(layoutc.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def _int(value: Any) -> int:
    if isinstance(value, int):
        return value
    parsed = memparse_whole(str(value))
    if parsed is None:
        raise ValueError(f"{value!r} is not a kernel size")
    return parsed


def _ram(entries: list[tuple[int, int, int | None]]) -> str:
    spans = sorted((max(s, MiB), e, n) for s, e, n in entries if e > MiB)
    return ", ".join(f"[{s:#x}, {e:#x}) node {n}" for s, e, n in spans) or "none"


def import_roundtrip(layout: Layout, sysinfo: Path, out_dir: Path) -> list[Fact]:
    """Run ``layoutc import`` on the guest's capture and compare the imported board with ``layout``."""
    if _carved(sysinfo):
        why = "map carved with memmap= on the board's cmdline: the firmware map the importer reads is QEMU's"
        return [Fact("probe round trip", "skip", layout.board, "n/a", why)]
    dest = out_dir / "imported-profile.yaml"
    board = layout.board or "lab"
    argv = [sys.executable, "-m", "layoutc.cli.main", "import", str(sysinfo), "--board", board, "-o", str(dest)]
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


def probe_roundtrip(layout: Layout, sysinfo: Path, out_dir: Path) -> list[Fact]:
    """Import the guest probe's raw files in-process, compile the profile, compare with ``layout``."""
    from layoutc.diagnostics.diagnostic import Diagnostics, render_text
    from layoutc.importer import import_profile, read_sysinfo
    from layoutc.model.profile import Strategy

    if _carved(sysinfo, layout):
        why = "map carved with memmap= on the board's cmdline: the firmware map the importer reads is QEMU's"
        return [Fact("probe round trip", "skip", layout.board, "n/a", why)]
    diags = Diagnostics()
    info = read_sysinfo(sysinfo, diags)
    board = layout.board or "lab"
    # the round trip compares the board (RAM map, block size, SRAT), which no strategy changes; the importer
    # knows no arm64 window design yet (LC419), so an arm64 board is imported with the one it accepts
    strategy = "classic-disk" if layout.arch == "arm64" else strategy_of(layout)
    text = None if info is None else import_profile(info, board, Strategy(strategy), diags)
    if text is None:
        tail = " | ".join(render_text(diags).strip().splitlines()[-3:])
        return [Fact("probe round trip", "fail", "import succeeds", "import_profile refused the probe's files", tail)]
    out_dir.mkdir(parents=True, exist_ok=True)
    profile = out_dir / "probed-profile.yaml"
    profile.write_text(text)
    compiled = out_dir / "probed-compiled"
    argv = [sys.executable, "-m", "layoutc.cli.main", "compile", str(profile), "-o", str(compiled)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, env=child_env())
    if proc.returncode != 0 and layout.arch == "arm64" and "error[LC250]" in proc.stderr:
        why = "layoutc refuses crash capture on this arm64 kernel (LC250), so the probed board does not compile"
        return [Fact("probe round trip", "skip", "compile succeeds", "LC250", why)]
    if proc.returncode != 0:
        tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
        return [Fact("probe round trip", "fail", "compile succeeds", f"layoutc compile exited {proc.returncode}",
                     tail)]  # fmt: skip
    got = load_layout(compiled).memory
    want = layout.memory
    expected = [(e.start, e.end, e.node if want.srat else None) for e in want.ram]
    observed = [(e.start, e.end, e.node if want.srat else None) for e in got.ram]
    detail = "guest probe → import_profile → layoutc compile (probed-profile.yaml, probed-compiled/)"
    return [
        _same("round trip: RAM map", _ram(expected), _ram(observed), detail),
        _same("round trip: block size", f"{want.block_size:#x}", f"{got.block_size:#x}", detail),
        _same("round trip: SRAT", str(want.srat), str(got.srat), detail),
    ]


def strategy_of(layout: Layout) -> str:
    """The ``layoutc import --strategy`` name of the layout's design."""
    s = layout.strategy
    if s.crash_memory == "cma":
        return {"disk": "cma-disk", "pmem-window": "cma-hotplug" if s.window_mode == "hotplug" else "cma"}.get(
            s.target, "cma"
        )
    if s.target == "disk":
        return "classic-disk"
    return "pmem-hotplug" if s.window_mode == "hotplug" else "pmem-movable"


def _same(name: str, predicted: str, observed: str, detail: str = "") -> Fact:
    detail = detail or "layoutc import of the guest's capture (imported-profile.yaml)"
    return Fact(name, "pass" if predicted == observed else "fail", predicted, observed, detail)


def _carved(sysinfo: Path, layout: Layout | None = None) -> bool:
    """True when the lab carved QEMU's map with memmap= (the importer then reads QEMU's firmware map)."""
    if layout is not None:  # a production capture: the layout's own memmap= words are undone by the importer
        from layoutc.lab.boot.machine import machine_for

        words = [*layout.board_cmdline.split(), *machine_for(layout).memmap]
        return any(w.startswith("memmap=") for w in words)
    cmdline = sysinfo / "cmdline"  # the baseline boot: only the board's words, so memmap= means carving
    return cmdline.is_file() and any(w.startswith("memmap=") for w in cmdline.read_text().split())
