"""Import from a real device: read what the kernel shows about memory, and write a profile.

Stages, each a function of data (only ``probe`` reads the live system, nothing here writes):

- ``probe(root, diags) -> SysInfo | None``: read /proc, /sys, lsmem, dmesg under ``root``.
- ``raw_files(info) -> dict[str, bytes]``: the capture files (``probe --raw DIR``).
- ``sysinfo_json(info) -> str``: what ``probe`` prints.
- ``read_sysinfo(path, diags) -> SysInfo | None``: probe's JSON or a raw capture directory.
- ``import_profile(info, board, strategy, diags) -> str | None``: the profile's YAML text.

Diagnostic codes are LC4xx (``import_codes.IMPORT_CODES``).
"""

from __future__ import annotations

from layoutc.importer.capture import parse_capture, raw_files
from layoutc.importer.emit import import_profile
from layoutc.importer.import_codes import IMPORT_CODES
from layoutc.importer.probe import probe
from layoutc.importer.read import read_sysinfo
from layoutc.importer.sysinfo_document import sysinfo_json
from layoutc.importer.sysinfo_types import SysInfo

__all__ = [
    "IMPORT_CODES",
    "SysInfo",
    "import_profile",
    "parse_capture",
    "probe",
    "raw_files",
    "read_sysinfo",
    "sysinfo_json",
]
