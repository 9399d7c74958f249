"""Does the crash initramfs fit? The sizing model re-run with the archive's measured sizes, against the layout.

classic: the whole crash kernel lives in the ``crashkernel=`` reservation, so the model's total with the
measured initramfs (compressed as loaded, unpacked as the rootfs holds it) must fit it. cma: the
reservation holds what kexec loads (kernel, initramfs, loader segments) and the ``,cma`` ranges the
runtime, unpacked rootfs included (docs/reference/kernel-rules.md §1.5). Pure: sizes in, ``Fit`` out.
"""

from __future__ import annotations

from dataclasses import dataclass

from layoutc.diagnostics.diagnostic import Diagnostic, Severity
from layoutc.initramfs.codes import RULES
from layoutc.kernel.sizing import RESERVATION, ImageSizes, SizingResult, crash_reserve_auto
from layoutc.model.layout import Layout
from layoutc.model.profile import CrashMemory, Profile
from layoutc.model.units import MiB, align_up, format_human, format_size


@dataclass(frozen=True, slots=True)
class Fit:
    """The initramfs's sizes against the board's crash memory."""

    compressed: int
    unpacked: int
    reservation: int  # crashkernel= size of the layout
    cma: int | None  # ,cma size of the layout (cma boards)
    sizing: SizingResult  # the model with the measured sizes
    needed_reservation: int  # what must fit in the reservation
    needed_cma: int  # what must fit in ,cma (0: classic)
    declared_initrd: int  # crash.initrd_size the layout was sized with

    @property
    def fits(self) -> bool:
        return self.needed_reservation <= self.reservation and self.needed_cma <= (self.cma or 0)

    @property
    def headroom(self) -> int:
        """Bytes left in the reservation (negative: short)."""
        return self.reservation - self.needed_reservation


def measure(profile: Profile, layout: Layout, compressed: int, unpacked: int) -> Fit:
    sizing = crash_reserve_auto(profile, ImageSizes(initrd_file=compressed, initrd_unpacked=unpacked))
    ck = layout.crashkernel
    if profile.crash.memory is CrashMemory.CMA:
        base = sum(t.size for t in sizing.terms if t.part == RESERVATION)
        return Fit(compressed, unpacked, ck.size, ck.cma_size, sizing, base, sizing.needed - base,
                   profile.crash.initrd_size)
    return Fit(compressed, unpacked, ck.size, ck.cma_size, sizing, sizing.needed, 0, profile.crash.initrd_size)


def diagnostics(fit: Fit, board: str, largest: tuple[tuple[str, int], ...]) -> tuple[Diagnostic, ...]:
    """LC530 when it does not fit, LC531 when the layout was sized for a smaller initramfs."""
    found: list[Diagnostic] = []
    sizes = f"{format_human(fit.compressed)} compressed, {format_human(fit.unpacked)} unpacked"
    ship_less = ", ".join(f"{path} ({format_human(size)})" for path, size in largest)
    initrd_mib = format_size(align_up(fit.compressed, MiB))
    if fit.needed_reservation > fit.reservation:
        raise_to = format_size(align_up(fit.needed_reservation, fit.sizing.align))
        found.append(Diagnostic(
            "LC530", Severity.ERROR,
            f"{board}: the crash initramfs ({sizes}) does not fit: the crash kernel needs "
            f"{format_human(fit.needed_reservation)} in the reservation, crashkernel={format_size(fit.reservation)} "
            f"holds {format_human(fit.reservation)} ({format_human(-fit.headroom)} short)",
            path="crash.reserve", value=format_size(fit.reservation), rule=RULES["LC530"],
            hint=f"raise crash.reserve to {raise_to} (or, with crash.reserve: auto, set crash.initrd_size: "
                 f"{initrd_mib}), or ship less; the largest files: {ship_less}"))
    if fit.needed_cma > (fit.cma or 0):
        raise_to = format_size(align_up(fit.needed_cma, 2 * MiB))
        found.append(Diagnostic(
            "LC530", Severity.ERROR,
            f"{board}: the crash kernel's runtime with the unpacked initramfs ({format_human(fit.unpacked)}) needs "
            f"{format_human(fit.needed_cma)} of ,cma; the layout has {format_human(fit.cma or 0)}",
            path="crash.cma_size", value=format_size(fit.cma or 0), rule=RULES["LC530"],
            hint=f"raise crash.cma_size to {raise_to} (or, with it unset, set crash.initrd_size: {initrd_mib}), "
                 f"or ship less; the largest files: {ship_less}"))
    if fit.compressed > fit.declared_initrd:
        found.append(Diagnostic(
            "LC531", Severity.WARNING,
            f"{board}: the crash initramfs is {format_human(fit.compressed)}; the layout was sized for "
            f"crash.initrd_size {format_human(fit.declared_initrd)}",
            path="crash.initrd_size", value=format_size(fit.declared_initrd), rule=RULES["LC531"],
            hint=f"set crash.initrd_size: {initrd_mib} and compile again"))
    return tuple(found)
