"""``read_sysinfo``: a SYSINFO argument is probe's JSON file or a raw capture directory."""

from __future__ import annotations

from pathlib import Path

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.importer import parse_report as report
from layoutc.importer.capture import read_capture_dir
from layoutc.importer.sysinfo_document import decode_sysinfo
from layoutc.importer.sysinfo_types import SysInfo

MAX_JSON_BYTES = 16 << 20


def read_sysinfo(path: Path, diags: Diagnostics, display: str | None = None) -> SysInfo | None:
    """Read SYSINFO at ``path``: a directory of raw captures, or the JSON ``layoutc probe`` prints.

    ``display`` names the input in diagnostics (default: the path as given). Returns None,
    with LC4xx diagnostics, when the input is missing or malformed; never raises for bad input.
    """
    shown = display if display is not None else str(path)
    if path.is_dir():
        return read_capture_dir(path, shown, diags)
    if not path.is_file():
        report.error(
            diags,
            "LC401",
            f"no such file or directory: {shown}",
            file=None,
            value=shown,
            hint="pass probe's JSON output or a directory of raw captures (iomem, lsmem.json, ...)",
        )
        return None
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_JSON_BYTES + 1)
    except OSError as exc:
        report.error(
            diags,
            "LC401",
            f"cannot read {shown}: {exc.strerror}",
            file=None,
            value=shown,
            hint="check the file's permissions",
        )
        return None
    if len(raw) > MAX_JSON_BYTES:
        report.error(
            diags,
            "LC407",
            f"{shown} is larger than {MAX_JSON_BYTES >> 20} MiB; SysInfo JSON is small",
            file=shown,
            hint="is this the right file?",
        )
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        report.error(
            diags,
            "LC407",
            f"invalid UTF-8 at offset {exc.start}",
            file=shown,
            line=raw.count(b"\n", 0, exc.start) + 1,
            hint="pass the output of 'layoutc probe', or a raw capture directory",
        )
        return None
    return decode_sysinfo(text, shown, diags)
