"""Import from a real device: read what the kernel shows about memory, and write a profile.

Stages, each a function of data (only ``probe`` reads the live system, nothing here writes):

- ``probe(root, diags) -> SysInfo | None``: read /proc, /sys, lsmem, dmesg under ``root``.
- ``raw_files(info) -> dict[str, bytes]``: the capture files (``probe --raw DIR``).
- ``sysinfo_json(info) -> str``: what ``probe`` prints.
- ``read_sysinfo(path, diags) -> SysInfo | None``: probe's JSON or a raw capture directory.
- ``import_profile(info, board, strategy, diags) -> str | None``: the profile's YAML text.

Diagnostic codes are LC4xx (``codes.IMPORT_CODES``).
"""

from __future__ import annotations

from .capture import parse_capture, raw_files
from .codec import sysinfo_json
from .codes import IMPORT_CODES
from .emit import import_profile
from .probe import probe
from .read import read_sysinfo
from .types import SysInfo

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
