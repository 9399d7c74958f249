"""What the installed layout expects of the device, read from ``layout.json`` with the standard library.

The compiler's reader (``model.layout_json``) checks the schema with jsonschema, which devices lack; this
reads only the fields the status compares, and says which one is missing or malformed instead of raising.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_LAYOUT = "/usr/lib/layoutc/layout.json"  # <install_dir>/layout.json, as the units' ExecStart paths


class LayoutError(Exception):
    """The layout cannot be read or is not a layoutc layout.json (the message says what)."""


@dataclass(frozen=True, slots=True)
class Window:
    start: int
    end: int
    mode: str  # movable | hotplug
    release: str  # kmem | reboot

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Expected:
    """The layout's promises the device can be checked against."""

    board: str
    arch: str  # x86_64 | arm64 (how the recovery boot is told from production: boot_kind)
    crash_memory: str  # classic | cma
    reservation: int  # bytes of "Crash kernel" in /proc/iomem (crashkernel plus crashkernel_low)
    crash_size: int  # kexec_crash_size: the main reservation only (crashk_res)
    cma_size: int  # crash CMA bytes (0: none)
    production: tuple[str, ...]  # cmdline words of the production boot
    recovery: tuple[str, ...]  # cmdline words of the recovery boot (movable windows; on arm64 with mem=)
    crash_append: str  # what arm.sh passes to kexec --append
    window: Window | None
    block_size: int


def _int(data: Any, *keys: str) -> int:
    value = data
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LayoutError(f"{'.'.join(keys)} is not a non-negative integer")
    return value


def _str(data: Any, *keys: str) -> str:
    value = data
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    if value is None:
        return ""
    if not isinstance(value, str):
        raise LayoutError(f"{'.'.join(keys)} is not a string")
    return value


def _region_bytes(data: dict[str, Any], kind: str) -> int:
    regions = data.get("regions")
    if not isinstance(regions, list):
        raise LayoutError("regions is not a list")
    total = 0
    for r in regions:
        if isinstance(r, dict) and r.get("kind") == kind:
            total += _int(r, "end") - _int(r, "start")
    return total


def _window(data: dict[str, Any]) -> Window | None:
    w = data.get("dump_window")
    if w is None:
        return None
    if not isinstance(w, dict):
        raise LayoutError("dump_window is not an object")
    start, end = _int(w, "start"), _int(w, "end")
    if end <= start:
        raise LayoutError("dump_window.end is not above dump_window.start")
    return Window(start, end, _str(w, "mode"), _str(w, "release"))


def expected(data: Any) -> Expected:
    """The expectations of decoded layout.json ``data`` (raises ``LayoutError``)."""
    if not isinstance(data, dict) or data.get("schema_version") != 1:
        raise LayoutError("not a layoutc layout.json (schema_version 1)")
    crash = _int(data, "crashkernel", "size") if (data.get("crashkernel") or {}).get("size") is not None else 0
    cma = data["crashkernel"].get("cma_size") if isinstance(data.get("crashkernel"), dict) else None
    main = _region_bytes(data, "crashkernel") or crash
    append = f"{_str(data, 'crash_board_cmdline')} {_str(data, 'cmdline', 'crash')}"
    return Expected(
        board=_str(data, "board"),
        arch=_str(data, "arch") or "x86_64",
        crash_memory=_str(data, "strategy", "crash_memory") or "classic",
        reservation=main + _region_bytes(data, "crashkernel_low"),
        crash_size=main,
        cma_size=_int(data, "crashkernel", "cma_size") if cma is not None else 0,
        production=tuple(_str(data, "cmdline", "production").split()),
        recovery=tuple(_str(data, "cmdline", "recovery").split()),
        crash_append=" ".join(append.split()),
        window=_window(data),
        block_size=_int(data, "memory", "block_size"),
    )


def load(path: Path) -> Expected:
    """Read and check the layout at ``path`` (raises ``LayoutError`` naming the problem)."""
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise LayoutError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise LayoutError(f"{path} is not JSON: {exc}") from None
    return expected(data)
