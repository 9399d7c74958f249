"""Kernel configuration and module lists: what the running kernel was built with.

Standard library only (``probe_main`` ships it in a bare interpreter). Two texts:

- ``config``: a kernel ``.config`` as ``/proc/config.gz`` (gunzipped) or ``/boot/config-RELEASE`` hold
  it. Lines are ``CONFIG_X=y``, ``=m``, ``="string"`` or ``=number``, ``# CONFIG_X is not set``, other
  ``#`` comments and blank lines (LNX:scripts/kconfig/confdata.c conf_write_symbol, v6.1/v7.2).
- ``modules``: one line per module file the kernel's module directory holds, ``builtin NAME`` (from
  ``modules.builtin``) or ``module NAME`` (from ``modules.dep`` or the ``.ko`` files); NAME is the file's
  base name without ``.ko`` and compression suffix, with '-' written '_' as modprobe matches it.

Only the options ``kernel/capabilities.py`` reasons about are kept in the SysInfo (``KCONFIG_OPTIONS``).
"""

from __future__ import annotations

import re

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.importer import parse_report as report
from layoutc.importer.sysinfo_types import KconfigOption, KernelModule

# The documented options (docs/import.md), in the order of layoutc.kernel.capabilities.OPTIONS, which
# says what each gives and where it is defined (a test keeps the two equal; probe stays stdlib-only).
KCONFIG_OPTIONS = (
    "KEXEC", "KEXEC_FILE", "CRASH_DUMP", "PROC_VMCORE", "CMA", "X86_PMEM_LEGACY", "OF_PMEM", "LIBNVDIMM",
    "BLK_DEV_PMEM", "ND_PFN", "ZONE_DEVICE", "DEV_DAX", "DEV_DAX_PMEM", "DEV_DAX_KMEM", "MEMORY_HOTPLUG",
    "MEMORY_HOTREMOVE", "MHP_MEMMAP_ON_MEMORY", "MODULES", "EXT4_FS", "NUMA", "KALLSYMS_ALL",
)

_SET_RE = re.compile(r"^CONFIG_([A-Za-z0-9_]+)=(.*)$")
_UNSET_RE = re.compile(r"^# CONFIG_([A-Za-z0-9_]+) is not set$")
_VALUE_RE = re.compile(r'^(y|m|n|"(?:[^"\\]|\\.)*"|-?[0-9]+|0x[0-9a-fA-F]+)$')
_MODULE_RE = re.compile(r"^(builtin|module) ([A-Za-z0-9_]+)$")
_KO_RE = re.compile(r"([^/\s:]+)\.ko(?:\.(?:xz|zst|gz))?$")
MAX_ERRORS = 5


def parse_kconfig(text: str, display: str, diags: Diagnostics) -> dict[str, str] | None:
    """Every option of a .config: ``{SYMBOL: value}`` (``n`` for 'is not set'); None on a malformed line."""
    values: dict[str, str] = {}
    bad = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        unset = _UNSET_RE.match(line)
        if unset:
            values[unset.group(1)] = "n"
            continue
        if line.startswith("#"):
            continue
        match = _SET_RE.match(line)
        if match and _VALUE_RE.match(match.group(2)):
            values[match.group(1)] = match.group(2)
            continue
        bad += 1
        if bad > MAX_ERRORS:
            report.too_many(diags, "LC423", display, number)
            break
        report.error(
            diags,
            "LC423",
            f"not a kernel configuration line: '{report.shown(line)}'",
            file=display,
            line=number,
            value=line,
            hint="capture /proc/config.gz (zcat) or /boot/config-$(uname -r) unchanged",
        )
    return None if bad else values


def kept_options(values: dict[str, str]) -> tuple[KconfigOption, ...]:
    """The documented options, in the documented order; an option the file does not mention is n."""
    return tuple(KconfigOption(name, values.get(name, "n")) for name in KCONFIG_OPTIONS)


def parse_modules(text: str, display: str, diags: Diagnostics) -> tuple[KernelModule, ...] | None:
    """A ``modules`` capture file; None (with LC423) on a malformed line."""
    found: dict[str, bool] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = _MODULE_RE.match(line)
        if match is None:
            report.error(
                diags,
                "LC423",
                f"not a module line ('builtin NAME' or 'module NAME'): '{report.shown(line)}'",
                file=display,
                line=number,
                value=line,
                hint="let 'layoutc probe --raw' write the modules file",
            )
            return None
        found[match.group(2)] = found.get(match.group(2), False) or match.group(1) == "builtin"
    return tuple(KernelModule(name, builtin) for name, builtin in sorted(found.items()))


def module_name(path: str) -> str | None:
    """``kernel/drivers/nvdimm/nd_pmem.ko.xz`` -> ``nd_pmem`` (None for a line that names no .ko)."""
    match = _KO_RE.search(path.strip())
    return None if match is None else match.group(1).replace("-", "_")


def modules_text(builtin: str | None, loadable: list[str]) -> str:
    """The ``modules`` capture file from modules.builtin's text and the loadable modules' paths."""
    names: dict[str, str] = {}
    for path in loadable:
        if (name := module_name(path)) is not None:
            names[name] = "module"
    for line in (builtin or "").splitlines():
        if (name := module_name(line)) is not None:
            names[name] = "builtin"
    return "".join(f"{kind} {name}\n" for name, kind in sorted(names.items()))
