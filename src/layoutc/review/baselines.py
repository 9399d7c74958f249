"""What the distribution tools would reserve on the same board (docs/reference/sources.md §1.1, §1.2, §2).

kdump-utils (Fedora/RHEL) ``kdump_get_arch_recommend_crashkernel`` range tables, ``kdumpctl
estimate``'s formula, and Ubuntu's packaged range. RAM is the sum of System RAM rounded up to
128 MiB, as kdump-utils' ``get_recommend_size`` and the kernel's range form do
(LNX:kernel/crash_reserve.c; docs/reference/kernel-rules.md §1.1). Pure functions of (arch, RAM, sizes).
"""

from __future__ import annotations

from dataclasses import dataclass

from layoutc.model.units import MiB, align_up, parse_size

ROUND = 128 * MiB
KDUMP_UTILS_RANGES = {
    "x86_64": "2G-64G:256M,64G-:512M",
    "arm64": "2G-4G:256M,4G-64G:320M,64G-:576M",
}
KDUMP_UTILS_SOURCE = ("kdump-utils kdump-lib.sh kdump_get_arch_recommend_crashkernel (2025-03, fe18f93); "
                      "no SME/SEV, 4K pages, no SMMU/mlx5 deltas (docs/reference/sources.md §1.1)")
UBUNTU_RANGES = "2G-4G:320M,4G-32G:512M,32G-64G:1024M,64G-128G:2048M,128G-:4096M"
UBUNTU_SOURCE = "Ubuntu 24.10+ kdump-tools packaged default (docs/reference/sources.md §1.2)"
KDUMPCTL_RUNTIME = 16 * MiB
KDUMPCTL_SOURCE = ("kdumpctl estimate: kernel image + modules in the kdump initrd + 3 x initrd + 16M "
                   "runtime + LUKS2 Argon2 + crypt overhead; recommended = max(arch default, estimate) "
                   "(docs/reference/sources.md §1.1)")


@dataclass(frozen=True, slots=True)
class Baseline:
    name: str
    rule: str  # the range string or formula applied
    size: int  # bytes that tool would reserve (0: none)
    detail: str  # how it applied to this board
    source: str


def rounded_ram(total_ram: int) -> int:
    return align_up(total_ram, ROUND)


def range_size(ranges: str, total_ram: int) -> int:
    """The size a ``start-[end]:size,...`` range string gives for ``total_ram`` (0 when none matches)."""
    total = rounded_ram(total_ram)
    for entry in ranges.split(","):
        span, size = entry.split(":", 1)
        start_text, end_text = span.split("-", 1)
        start = parse_size(start_text)
        end = parse_size(end_text) if end_text else 1 << 64
        if start <= total < end:
            return parse_size(size)
    return 0


def kdump_utils_default(arch: str, total_ram: int) -> Baseline:
    ranges = KDUMP_UTILS_RANGES.get(arch, KDUMP_UTILS_RANGES["x86_64"])
    size = range_size(ranges, total_ram)
    detail = (f"RAM {rounded_ram(total_ram) // MiB} MiB (rounded to 128M) -> "
              + (f"{size // MiB}M" if size else "no reservation (below 2G)"))
    return Baseline("kdump-utils default", f"crashkernel={ranges}", size, detail, KDUMP_UTILS_SOURCE)


def ubuntu_default(total_ram: int) -> Baseline:
    size = range_size(UBUNTU_RANGES, total_ram)
    detail = (f"RAM {rounded_ram(total_ram) // MiB} MiB -> "
              + (f"{size // MiB}M" if size else "no reservation (below 2G)"))
    return Baseline("Ubuntu kdump-tools default", f"crashkernel={UBUNTU_RANGES}", size, detail, UBUNTU_SOURCE)


def kdumpctl_estimate(arch: str, total_ram: int, kernel_footprint: int, initrd: int,
                      modules: int = 0, luks: int = 0) -> Baseline:
    """kdumpctl estimate's formula for the same kernel and initrd; modules default to 0 because a
    layoutc crash initrd carries its modules inside ``initrd`` (kdumpctl adds their loaded size)."""
    crypt = (50 * MiB if arch == "arm64" else 20 * MiB) if luks else 0
    estimate = kernel_footprint + modules + 3 * initrd + KDUMPCTL_RUNTIME + luks + crypt
    default = kdump_utils_default(arch, total_ram).size
    size = max(default, estimate)
    detail = (f"kernel {_mib(kernel_footprint)} + modules {_mib(modules)} + 3 x initrd {_mib(initrd)} + "
              f"runtime 16 MiB" + (f" + LUKS {_mib(luks)} + crypt {_mib(crypt)}" if luks else "")
              + f" = {_mib(estimate)}; max with default {_mib(default)} = {_mib(size)}")
    return Baseline("kdumpctl estimate", "max(default, kernel + modules + 3 x initrd + 16M [+ LUKS])", size,
                    detail, KDUMPCTL_SOURCE)


def _mib(value: int) -> str:
    return f"{value // MiB} MiB" if value % MiB == 0 else f"{value / MiB:.1f} MiB"
