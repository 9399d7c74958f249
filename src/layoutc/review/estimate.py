"""``layoutc estimate``: the sizing model with every term, side by side with the distribution tools.

Pure: the CLI reads the kernel and initrd files and passes their sizes (and the kernel's in-RAM
size from its header) in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from layoutc.kernel.sizing import ImageSizes, SizingResult, crash_reserve_auto
from layoutc.model.profile import Profile
from layoutc.review import notation
from layoutc.review.baselines import Baseline, kdump_utils_default, kdumpctl_estimate, ubuntu_default

SUSE_NOTE = ("SUSE kdumptool calibrate: not computed; its constants are measured per distro, arch and "
             "flavour by a QEMU boot (calibrate.conf); shape: (kernel + initramfs + 2 x fb + slab + "
             "per-CPU + bitmaps + dirty/IO + hashes + memmap) x 1.3 + 64M (docs/reference/sources.md §1.3)")


@dataclass(frozen=True, slots=True)
class Estimate:
    board: str
    arch: str
    ram: int
    crash_memory: str
    sizing: SizingResult
    configured: int | None  # crash.reserve when the profile pins it; None = auto
    cma_size: int | None
    baselines: tuple[Baseline, ...]
    kernel_measured: bool
    initrd_measured: bool
    notes: tuple[str, ...]

    @property
    def reserve(self) -> int:
        """What layoutc emits: the pinned crash.reserve, else the model's."""
        return self.configured if self.configured is not None else self.sizing.reserve


def estimate(profile: Profile, kernel_size: int | None = None, initrd_size: int | None = None,
             kernel_footprint: int | None = None) -> Estimate:
    """Run the sizing model for ``profile``; sizes of the real files override the profile's."""
    sizes = ImageSizes(kernel_footprint=kernel_footprint, kernel_file=kernel_size, initrd_file=initrd_size)
    result = crash_reserve_auto(profile, sizes)
    arch = str(profile.arch)
    ram = profile.memory.total_ram
    initrd = initrd_size if initrd_size is not None else profile.crash.initrd_size
    baselines = (
        kdump_utils_default(arch, ram),
        kdumpctl_estimate(arch, ram, result.term("kernel").size, initrd),
        ubuntu_default(ram),
    )
    notes = [SUSE_NOTE]
    if kernel_size is not None and kernel_footprint is None:
        notes.append("the kernel file's header was not recognised (bzImage >= 2.10 or arm64 Image); "
                     "its in-RAM size was estimated from the file size")
    pinned = profile.crash.reserve
    if pinned is not None and pinned < result.needed and str(profile.crash.memory) == "classic":
        notes.append(f"the profile pins crash.reserve = {notation.cmdline_size(pinned)}, below the "
                     f"model's {notation.human(result.needed)}: the crash kernel may run out of memory")
    cma = profile.crash.cma_size
    if cma is not None and result.cma_minimum and cma < result.cma_minimum:
        notes.append(f"crash.cma_size {notation.cmdline_size(cma)} is below the runtime "
                     f"part {notation.human(result.cma_minimum)}")
    kernel_measured = kernel_footprint is not None or kernel_size is not None
    return Estimate(profile.board, arch, ram, str(profile.crash.memory), result, pinned, cma, baselines,
                    kernel_measured, initrd_size is not None, tuple(notes))


def render_text(est: Estimate) -> str:
    s = est.sizing
    lines = [f"{est.board}: crash kernel sizing ({est.arch}, {notation.human(est.ram)} RAM, "
             f"crash memory {est.crash_memory})", ""]
    for term in s.terms:
        lines.append(f"  {notation.human(term.size):>10}  {term.label} [{term.part}]")
        lines.append(f"  {'':>10}    = {term.formula}")
        lines.append(f"  {'':>10}    source: {term.source}")
    lines.append(f"  {notation.human(s.needed):>10}  total needed")
    lines.append("")
    if est.crash_memory == "cma":
        lines.append(f"layoutc: crashkernel={notation.cmdline_size(s.reserve)} (kernel + initrd + loader "
                     f"+ slack, aligned to {notation.human(s.align)}), ,cma >= "
                     f"{notation.human(s.cma_minimum)}")
    else:
        lines.append(f"layoutc: crashkernel={notation.cmdline_size(s.reserve)} (total aligned to "
                     f"{notation.human(s.align)})")
    if est.configured is not None:
        lines.append(f"profile pins crash.reserve = {notation.cmdline_size(est.configured)}")
    lines.append("")
    lines.append("side by side (same board):")
    rows = [("layoutc model", est.sizing.reserve, "see terms above")]
    rows += [(b.name, b.size, b.detail) for b in est.baselines]
    name_w = max(len(r[0]) for r in rows)
    for name, size, detail in rows:
        diff = size - est.sizing.reserve
        rel = "" if name == "layoutc model" else f"  ({notation.delta(diff)} vs layoutc)"
        lines.append(f"  {name:<{name_w}}  {notation.human(size):>10}{rel}")
        lines.append(f"  {'':<{name_w}}    {detail}")
    lines.append("")
    for note in est.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines) + "\n"


def render_json(est: Estimate) -> str:
    s = est.sizing
    data: dict[str, Any] = {
        "board": est.board, "arch": est.arch, "ram": est.ram, "crash_memory": est.crash_memory,
        "terms": [{"key": t.key, "label": t.label, "size": t.size, "formula": t.formula, "source": t.source,
                   "part": t.part, "inputs": list(t.inputs)} for t in s.terms],
        "needed": s.needed, "reserve": s.reserve, "cma_minimum": s.cma_minimum, "align": s.align,
        "configured": est.configured, "cma_size": est.cma_size,
        "crashkernel": f"crashkernel={notation.cmdline_size(est.reserve)}",
        "baselines": [{"name": b.name, "rule": b.rule, "size": b.size, "detail": b.detail, "source": b.source}
                      for b in est.baselines],
        "measured": {"kernel": est.kernel_measured, "initrd": est.initrd_measured},
        "notes": list(est.notes),
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
