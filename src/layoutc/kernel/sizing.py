"""How much memory the crash kernel needs: layoutc's sizing model for ``crash.reserve: auto``.

A pure, additive model in the spirit of kdumpctl estimate and SUSE's kdumptool calibrate
(docs/reference/sources.md §1.1, §1.3, §2), with every term carrying its formula and its source so that
``layoutc estimate`` can show them. Sizes are bytes.

classic: the crash kernel's whole RAM is the ``crashkernel=`` reservation, so every term goes
into it. cma: the reservation only has to hold what kexec loads into it (the kernel segment, the
initrd segment, purgatory and elfcorehdr); the crash kernel's runtime lives in the ``,cma`` ranges,
which it receives as RAM (docs/reference/kernel-rules.md §1.5). ``SizingResult.cma_minimum`` is that runtime part.
"""

from __future__ import annotations

from dataclasses import dataclass

from layoutc.model.profile import Arch, CrashMemory, Dumper, Profile, Target
from layoutc.model.units import GiB, KiB, MiB, align_up

RESERVATION = "reservation"
"""A term that must sit in the crashkernel= reservation (what kexec loads)."""
RUNTIME = "runtime"
"""A term the running crash kernel needs as RAM (in the reservation for classic, in CMA for cma)."""

# Kernel image: the in-RAM footprint, not the file. x86_64 kexec_file_load sizes the kernel
# segment as PAGE_ALIGN(header->init_size) (LNX:arch/x86/kernel/kexec-bzimage64.c); arm64 loads
# the Image's image_size (Documentation/arch/arm64/booting.rst). Without the file we scale the
# file size: a bzImage is compressed (vmlinux text..bss is typically ~4x it), an arm64 Image is not.
KERNEL_FACTOR = {Arch.X86_64: 4.0, Arch.ARM64: 1.5}
INITRD_FACTOR = 3  # compressed segment + unpacked rootfs copy + peak during unpacking
KERNEL_RUNTIME = 16 * MiB  # kdumpctl estimate's runtime constant
LOADER_OVERHEAD = 1 * MiB  # purgatory + elfcorehdr + setup data/boot params segments
PER_CPU = 1 * MiB  # the boot CPU: its areas and the dumper's one thread (the model's figure since it began)
# Each CPU beyond the first (crash.cpus > 1; nr_cpus= caps the possible CPUs, LNX:kernel/smp.c nrcpus),
# docs/reference/kernel-rules.md §10.1 (what is measured there and what is an estimate): its percpu unit
# (61-62 pages on the lab's x86_64 Debian kernels, 31-36 on arm64; LNX:mm/percpu.c pcpu_embed_first_chunk),
# its per-CPU kernel threads (idle, cpuhp, migration, ksoftirqd, two kworkers: 16 KiB stacks plus
# task_struct, and the x86 IRQ stack), the pages its per-CPU free lists may hold (LNX:mm/page_alloc.c
# zone_highsize: at least 4 x batch) and its SLUB CPU slabs (LNX:mm/slub.c kmem_cache_cpu).
PER_EXTRA_CPU = {
    "percpu unit": 256 * KiB, "kthreads": 160 * KiB, "pcp lists": 256 * KiB, "slub cpu slabs": 256 * KiB,
}
# crash.cpus > 1: capture.sh runs the layoutc dumper with --workers N, a pool of N forked compressor
# processes (layoutc.dump.write.workers): each one's private pages after the fork and its two windows in
# flight (2 x WINDOW_PAGES 256 x 4 KiB: the one it encodes, and finished payloads of at most one window's page
# bytes, HOLD_WINDOWS = 1, that it holds for their offsets).
DUMPER_WORKER = 4 * MiB + 2 * 256 * 4 * KiB
BITMAP_PER_GIB = 64 * KiB  # two bitmaps of 1 bit per 4 KiB page: 2 * (GiB / 4 KiB) / 8 bytes
BITMAP_CAP = 32 * MiB  # SUSE calibrate caps makedumpfile's bitmaps (cyclic mode)
DUMPER_LAYOUTC_INTERPRETER = 16 * MiB
DUMPER_LAYOUTC_ZIPAPP = 2 * MiB
DUMPER_LAYOUTC_BUFFERS = 16 * MiB
DUMPER_MAKEDUMPFILE = 8 * MiB
PMEM_DRIVERS = 1 * MiB  # libnvdimm + nd_e820 + nd_pmem static size (raw mode: no struct pages)
DISK_STACK = 16 * MiB  # block driver + filesystem + writeback (SUSE solves dirty page cache instead)
STRUCT_PAGE_DIVISOR = 64  # sizeof(struct page) = 64 B per 4 KiB page of the crash kernel's RAM
SLACK_PERCENT = 20
# x86_64 crash kernels allocate the default software IO TLB (kernel/dma/swiotlb.c IO_TLB_DEFAULT_SIZE, 64 MiB)
# from their own RAM. Measured in the lab (Debian 6.1 and 7.2, docs/lab.md): "software IO TLB: mapped ... (64MB)"
# under OVMF; under SeaBIOS the 64 MiB block did not fit and the kernel fell back to 32 MiB ("bounce buffer size
# adjusted 32768 -> 16384 slabs"). Without this term a 176M reservation left the dumper 62 MiB and it was
# OOM-killed under OVMF.
SWIOTLB = {Arch.X86_64: 64 * MiB, Arch.ARM64: 0}
CRASH_ALIGN = {Arch.X86_64: 16 * MiB, Arch.ARM64: 2 * MiB}


@dataclass(frozen=True, slots=True)
class Term:
    """One additive term of the model."""

    key: str  # stable identifier (kernel, initrd, runtime, dumper, per_cpu, per_gib, target, swiotlb, memmap, slack)
    label: str
    size: int
    formula: str  # how the number was computed, with the inputs spelled out
    source: str  # where the rule or constant comes from
    part: str  # RESERVATION or RUNTIME
    inputs: tuple[str, ...] = ()  # profile keys (dotted) the term reads


@dataclass(frozen=True, slots=True)
class SizingResult:
    """The model's answer for one profile."""

    terms: tuple[Term, ...]
    needed: int  # sum of all terms: what the crash kernel needs in total
    reserve: int  # the crashkernel= size to emit (classic: needed; cma: the reservation part), aligned
    cma_minimum: int  # cma: the least ,cma size that holds the runtime part; 0 for classic
    align: int
    crash_memory: str

    def term(self, key: str) -> Term:
        for item in self.terms:
            if item.key == key:
                return item
        raise KeyError(key)


@dataclass(frozen=True, slots=True)
class ImageSizes:
    """Measured in-RAM sizes of the real files (from ``layoutc estimate --kernel/--initrd``)."""

    kernel_footprint: int | None = None  # init_size (bzImage) / image_size (arm64 Image)
    kernel_file: int | None = None
    initrd_file: int | None = None
    initrd_unpacked: int | None = None  # bytes of file data in the unpacked rootfs (``layoutc initramfs``)


def kernel_footprint(data: bytes) -> int | None:
    """The in-RAM size a kernel image file declares, or None when the header is not recognised.

    x86 bzImage: setup header "HdrS" at 0x202, init_size (u32) at 0x260, boot protocol >= 2.10
    (Documentation/arch/x86/boot.rst). arm64 Image: magic "ARM\\x64" at 0x38, image_size (u64 LE)
    at 0x10 (Documentation/arch/arm64/booting.rst).
    """
    if len(data) >= 0x264 and data[0x202:0x206] == b"HdrS":
        version = int.from_bytes(data[0x206:0x208], "little")
        if version >= 0x020A:
            return int.from_bytes(data[0x260:0x264], "little")
    if len(data) >= 0x40 and data[0x38:0x3C] == b"ARM\x64":
        size = int.from_bytes(data[0x10:0x18], "little")
        return size or None
    return None


def crash_reserve_auto(profile: Profile, sizes: ImageSizes | None = None) -> SizingResult:
    """Size the crash kernel's memory for ``profile`` (``crash.reserve: auto``).

    The solver calls this for ``reserve: auto`` and emits ``crashkernel=<reserve>`` (plus
    ``,cma`` of at least ``cma_minimum`` when ``cma_size`` is not given).
    """
    sizes = sizes or ImageSizes()
    terms = [_kernel_term(profile, sizes), *_initrd_terms(profile, sizes), *_runtime_terms(profile)]
    terms += _memmap_and_slack_terms(sum(t.size for t in terms))
    needed = sum(t.size for t in terms)
    align = CRASH_ALIGN[profile.arch]
    if profile.crash.memory is CrashMemory.CMA:
        base = sum(t.size for t in terms if t.part == RESERVATION)
        reserve = align_up(base + base * SLACK_PERCENT // 100, align)
        cma_minimum = align_up(needed - base, 2 * MiB)
    else:
        reserve = align_up(needed, align)
        cma_minimum = 0
    return SizingResult(tuple(terms), needed, reserve, cma_minimum, align, str(profile.crash.memory))


def _kernel_term(profile: Profile, sizes: ImageSizes) -> Term:
    """The crash kernel image in RAM: read from the file's header when given, else scaled from its size."""
    arch = profile.arch
    kernel_file = sizes.kernel_file if sizes.kernel_file is not None else profile.crash.kernel_size
    if sizes.kernel_footprint is not None:
        how = "bzImage init_size" if arch is Arch.X86_64 else "Image image_size"
        return Term("kernel", "crash kernel image (in RAM)", align_up(sizes.kernel_footprint, 4096),
                    f"{how} read from the kernel file = {_mib(sizes.kernel_footprint)}",
                    "kexec_file_load kernel segment memsz (LNX:arch/x86/kernel/kexec-bzimage64.c; "
                    "Documentation/arch/arm64/booting.rst)", RESERVATION, ("crash.kernel_size",))
    factor = KERNEL_FACTOR[arch]
    footprint = align_up(int(kernel_file * factor), MiB)
    return Term("kernel", "crash kernel image (in RAM)", footprint,
                f"{factor:g} x kernel file {_mib(kernel_file)} (estimate; --kernel FILE "
                "reads the real in-RAM size from its header)",
                "kexec segment memsz = decompressed image incl. bss; kdumpctl estimate counts "
                "the vmlinux size, not the file (docs/reference/sources.md §1.1)", RESERVATION,
                ("crash.kernel_size",))


def _initrd_terms(profile: Profile, sizes: ImageSizes) -> tuple[Term, Term]:
    """The initrd as kexec loads it (reservation) and its unpacking (runtime)."""
    initrd = sizes.initrd_file if sizes.initrd_file is not None else profile.crash.initrd_size
    segment = Term("initrd_segment", "initrd (loaded segment)", align_up(initrd, 4096),
                   f"initrd file {_mib(initrd)}", "kexec initrd segment (docs/reference/kernel-rules.md §5)",
                   RESERVATION,
                   ("crash.initrd_size",))
    if sizes.initrd_unpacked is not None:
        unpack = Term("initrd_unpack", "initrd unpacked (rootfs)", align_up(sizes.initrd_unpacked, 4096),
                      f"unpacked rootfs {_mib(sizes.initrd_unpacked)} (measured: layoutc initramfs)",
                      "LNX:init/initramfs.c do_populate_rootfs (v6.1/v7.2): the archive is decompressed as a "
                      "stream into rootfs files; the loaded segment is freed only after (free_initrd_mem)",
                      RUNTIME, ("crash.initrd_size",))
        return segment, unpack
    unpack = Term("initrd_unpack", "initrd unpacking (2 more copies)", align_up(initrd, 4096) * (INITRD_FACTOR - 1),
                  f"({INITRD_FACTOR} - 1) x initrd {_mib(initrd)}: unpacked rootfs copy + "
                  "decompression peak",
                  "kdumpctl estimate counts 3 x initrd (docs/reference/sources.md §1.1, §3.3; "
                  "kdump-utils #32, #78, #99)",
                  RUNTIME, ("crash.initrd_size",))
    return segment, unpack


def _runtime_terms(profile: Profile) -> list[Term]:
    """The loader's other segments and what the running crash kernel and its dumper use."""
    crash, arch = profile.crash, profile.arch
    terms = [
        Term("loader", "purgatory, elfcorehdr, boot params", LOADER_OVERHEAD, "constant",
             "kexec segments other than kernel and initrd (LNX:kernel/kexec_file.c)", RESERVATION),
        Term("runtime", "kernel runtime (slab, page tables, early allocations)", KERNEL_RUNTIME,
             "constant", "kdumpctl estimate's 16M runtime term (docs/reference/sources.md §1.1)", RUNTIME),
        _dumper_term(profile),
        _per_cpu_term(crash.cpus),
        _bitmap_term(profile.memory.total_ram),
        _target_term(profile),
    ]
    if crash.cpus > 1 and profile.dump.dumper is not Dumper.MAKEDUMPFILE:
        terms.append(Term("workers", "dumper compressor processes (--workers)", DUMPER_WORKER * crash.cpus,
                          f"{crash.cpus} worker(s) (one per CPU) x {_mib(DUMPER_WORKER)}",
                          "a forked process per worker: private pages and two 1 MiB windows in flight "
                          "(layoutc.dump.write.encode; docs/reference/kernel-rules.md §10.1)",
                          RUNTIME, ("crash.cpus", "dump.dumper")))
    if SWIOTLB[arch]:
        terms.append(Term("swiotlb", "software IO TLB (bounce buffers)", SWIOTLB[arch],
                          f"default swiotlb size {_mib(SWIOTLB[arch])}",
                          "LNX:kernel/dma/swiotlb.c IO_TLB_DEFAULT_SIZE; the lab's crash kernels map 64 MiB "
                          "(OVMF) or fall back to 32 MiB when 64 do not fit (docs/lab.md)", RUNTIME))
    return terms


def _per_cpu_term(cpus: int) -> Term:
    """The boot CPU's 1 MiB, plus each further CPU's kernel cost (docs/reference/kernel-rules.md §10.1)."""
    source = ("about 1 MiB per CPU/thread (kdump-utils PR #14; SUSE calibrate per-CPU term, "
              "docs/reference/sources.md §1.3)")
    if cpus == 1:
        return Term("per_cpu", "per-CPU areas and dumper threads", PER_CPU, f"1 CPU(s) (nr_cpus=) x {_mib(PER_CPU)}",
                    source, RUNTIME, ("crash.cpus",))
    extra = sum(PER_EXTRA_CPU.values())
    parts = " + ".join(f"{name} {v // KiB} KiB" for name, v in PER_EXTRA_CPU.items())
    return Term("per_cpu", "per-CPU areas and dumper threads", PER_CPU + (cpus - 1) * extra,
                f"boot CPU {_mib(PER_CPU)} + {cpus - 1} more CPU(s) (nr_cpus={cpus}) x ({parts} = {extra // KiB} KiB)",
                "LNX:kernel/smp.c nrcpus; mm/percpu.c pcpu_embed_first_chunk; mm/page_alloc.c zone_highsize; "
                "mm/slub.c; docs/reference/kernel-rules.md §10.1", RUNTIME, ("crash.cpus",))


def _bitmap_term(ram: int) -> Term:
    bitmaps = min(BITMAP_CAP, align_up(ram, GiB) // GiB * BITMAP_PER_GIB)
    return Term("per_gib", "page bitmaps over the first kernel's RAM", bitmaps,
                f"{_gib(ram)} System RAM x {BITMAP_PER_GIB // KiB} KiB/GiB (2 bits per 4 KiB page), "
                f"capped at {_mib(BITMAP_CAP)}",
                "kdump format's two page bitmaps; SUSE calibrate scales bitmaps by RAM pages, "
                "capped at 32 MiB (docs/reference/sources.md §1.3)", RUNTIME, ("memory.map",))


def _memmap_and_slack_terms(subtotal: int) -> tuple[Term, Term]:
    # The crash kernel's own struct pages cover all of its RAM, including themselves: x = s + x/64.
    total_ram = -(-subtotal * STRUCT_PAGE_DIVISOR // (STRUCT_PAGE_DIVISOR - 1))
    memmap = Term("memmap", "struct pages of the crash kernel's own RAM", total_ram - subtotal,
                  f"1/{STRUCT_PAGE_DIVISOR} of the crash kernel's RAM (64 B per 4 KiB page)",
                  "sizeof(struct page) = 64 on x86_64/arm64; SUSE calibrate's memmap term "
                  "(docs/reference/sources.md §1.3)",
                  RUNTIME)
    slack_size = align_up(total_ram * SLACK_PERCENT // 100, MiB)
    slack = Term("slack", "slack", slack_size, f"{SLACK_PERCENT}% of {_mib(total_ram)}",
                 "layoutc margin for unmodelled modules and fragmentation (SUSE: x1.3 + 64M, "
                 "kdumpctl: max with the arch default; docs/reference/sources.md §2)", RUNTIME)
    return memmap, slack


def _dumper_term(profile: Profile) -> Term:
    if profile.dump.dumper is Dumper.MAKEDUMPFILE:
        return Term("dumper", "dumper working set (makedumpfile)", DUMPER_MAKEDUMPFILE,
                    f"makedumpfile binary, libraries and cyclic buffer {_mib(DUMPER_MAKEDUMPFILE)} "
                    "(bitmaps in the per-GiB term)",
                    "makedumpfile cyclic mode; SUSE calibrate userspace base (docs/reference/sources.md §1.3)",
                    RUNTIME, ("dump.dumper",))
    total = DUMPER_LAYOUTC_INTERPRETER + DUMPER_LAYOUTC_ZIPAPP + DUMPER_LAYOUTC_BUFFERS
    return Term("dumper", "dumper working set (layoutc dumper, Python)", total,
                f"interpreter with stdlib imports {_mib(DUMPER_LAYOUTC_INTERPRETER)} + zipapp "
                f"{_mib(DUMPER_LAYOUTC_ZIPAPP)} + buffers {_mib(DUMPER_LAYOUTC_BUFFERS)} "
                "(4 MiB source window, 2 x 4 MiB encode window, 4 MiB flush)",
                "measured RSS of python3 with the dumper's imports (~14 MiB); buffer sizes from "
                "layoutc.dump (source.WINDOW_BYTES, encode.WINDOW_PAGES, elfout.FLUSH_BYTES); "
                "docs/dumper.md when it lands", RUNTIME, ("dump.dumper",))


def _target_term(profile: Profile) -> Term:
    if profile.crash.target is Target.PMEM_WINDOW:
        return Term("target", "pmem driver (raw mode)", PMEM_DRIVERS,
                    f"libnvdimm + nd_e820 + nd_pmem {_mib(PMEM_DRIVERS)}; raw pmem needs no struct pages",
                    "docs/reference/kernel-rules.md §7 rule 29 (fsdax/devdax would need 64 B per 4 KiB of the "
                    "window)", RUNTIME,
                    ("crash.target",))
    return Term("target", "disk I/O stack", DISK_STACK,
                f"block driver + filesystem + writeback {_mib(DISK_STACK)} (estimate)",
                "SUSE calibrate models dirty page cache and in-flight I/O instead (docs/reference/sources.md §1.3)",
                RUNTIME,
                ("crash.target", "disk.device"))


def _mib(value: int) -> str:
    if value % MiB == 0:
        return f"{value // MiB} MiB"
    return f"{value / MiB:.1f} MiB"


def _gib(value: int) -> str:
    if value % GiB == 0:
        return f"{value // GiB} GiB"
    return f"{value / GiB:.2f} GiB"
