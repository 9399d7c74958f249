"""The dump pipeline: parse the source, exclude, fit the budget, write, survive faults.

``run()`` never prints and never exits: it returns a :class:`Result` (or raises
:class:`~layoutc.dump.errors.DumpError` for invalid input); ``__main__`` reports it.
"""

from __future__ import annotations

from layoutc.dump import extents, interrupt
from layoutc.dump.classify import budget as budgets
from layoutc.dump.classify import imagekeep, pageclass
from layoutc.dump.errors import DumpError, IncompleteDump, InputError, Interrupted, SinkFault, SourceFault
from layoutc.dump.extents import Extent
from layoutc.dump.filter_spec import FilterSpec
from layoutc.dump.read import elf_input as elf
from layoutc.dump.read import inputs, physmap
from layoutc.dump.read.uts import read_utsname
from layoutc.dump.read.vmcore_source import FileReader
from layoutc.dump.record import Frozen, init
from layoutc.dump.write import compression as codecs
from layoutc.dump.write import target as targets
from layoutc.dump.write.encode import Encoder, PageWindow, windows
from layoutc.dump.write.kdump import PAGE_DESC, KdumpLayout, KdumpWriter
from layoutc.dump.write.progress import Progress
from layoutc.dump.write.sink import FileSink, FlatSink

TYPE_CHECKING = False
if TYPE_CHECKING:  # imported where used: ELF output and the dump-window census are not every dump's
    from collections.abc import Iterator
    from typing import TextIO

    from layoutc.dump.classify import windowloss
    from layoutc.dump.read.pagetable import ReadPhys
    from layoutc.dump.read.vmcore_source import Reader
    from layoutc.dump.write import elf_output as elfout
    from layoutc.dump.write.sink import Sink

PROC_VMCORE = "/proc/vmcore"
PROC_IOMEM = "/proc/iomem"
HEX_DIGITS = "0123456789abcdefABCDEF"


class Options(Frozen):
    """Everything one dump needs; ``spec`` already has the command-line overrides applied."""

    __slots__ = ("source", "output", "spec", "workers", "use_mmap", "progress", "iomem")
    source: str
    output: str
    spec: FilterSpec
    workers: int
    use_mmap: bool | None  # None: mmap for /proc/vmcore, pread for regular files
    progress: TextIO | None
    iomem: str | None  # the capture kernel's /proc/iomem; defaulted for /proc/vmcore

    def __init__(
        self,
        source: str,
        output: str,
        spec: FilterSpec | None = None,
        workers: int = 1,
        use_mmap: bool | None = None,
        progress: TextIO | None = None,
        iomem: str | None = None,
    ) -> None:
        init(self, source=source, output=output, spec=FilterSpec() if spec is None else spec, workers=workers,
             use_mmap=use_mmap, progress=progress, iomem=iomem)


class Result(Frozen):
    """What a dump did; ``error`` is set when it stopped early (the output is then INCOMPLETE)."""

    __slots__ = (
        "complete", "pages_present", "pages_kept", "bytes_written", "excluded", "drops", "notes", "error", "window"
    )
    complete: bool
    pages_present: int
    pages_kept: int
    bytes_written: int
    excluded: tuple[tuple[str, int], ...]
    drops: tuple[budgets.Drop, ...]
    notes: tuple[str, ...]
    error: DumpError | None
    window: windowloss.WindowLoss | None  # what the dump window took (spec reason dump_window)

    def __init__(
        self,
        complete: bool,
        pages_present: int,
        pages_kept: int,
        bytes_written: int,
        excluded: tuple[tuple[str, int], ...],
        drops: tuple[budgets.Drop, ...],
        notes: tuple[str, ...],
        error: DumpError | None = None,
        window: windowloss.WindowLoss | None = None,
    ) -> None:
        init(self, complete=complete, pages_present=pages_present, pages_kept=pages_kept, bytes_written=bytes_written,
             excluded=excluded, drops=drops, notes=notes, error=error, window=window)


def run(opts: Options, reader: Reader | None = None) -> Result:
    """Dump ``opts.source`` to ``opts.output``."""
    own = reader is None
    src: Reader = reader if reader is not None else FileReader(opts.source, use_mmap=opts.use_mmap)
    try:
        fmt = opts.spec.format
        out = targets.plan(opts.output, opts.source, targets.source_identity(opts.source, src), fmt)
        return _run(opts, src, out)
    finally:
        if own:
            src.close()


def _run(opts: Options, reader: Reader, out: targets.OutputTarget) -> Result:
    vmcore = elf.parse(reader, opts.source)
    ps = vmcore.page_size
    pmap = physmap.build(vmcore.loads, ps)
    present = pmap.present if opts.spec.format == "elf" else pmap.bitmap1()  # PhysMap.short_ends
    notes: list[str] = list(vmcore.warnings)
    auto = {"nodata": list(pmap.nodata), "truncated_source": pmap.beyond(vmcore.file_size)}
    phys = physmap.PhysReader(pmap, reader)
    read = phys.read
    classes, level, class_notes = pageclass.for_dump(
        vmcore.vmcoreinfo, read, present, ps, opts.spec.dump_level, workers=opts.workers, phys=phys
    )
    classes, image_notes = imagekeep.hold_back(vmcore.vmcoreinfo, vmcore.loads, read, ps, classes)
    notes += class_notes + image_notes
    auto.update(classes)
    excluded, keep = _exclusions(opts, present, auto, ps, notes)
    loss = _window_loss(opts, vmcore, physmap.PhysReader(pmap, reader).read, present, auto, ps, notes)
    spec = opts.spec.with_overrides(dump_level=level)
    if spec.format == "elf":
        got = _run_elf(opts, spec, reader, vmcore, pmap, present, keep, excluded, notes, out)
        return got.replace(window=loss)
    codec_name = spec.compression
    try:
        codec = codecs.lookup(codec_name)
    except ImportError:
        notes.append(f"compression {codec_name!r} is not available here; using zlib")
        codec = codecs.lookup("zlib")
    encoder = Encoder(codec.name, bool(spec.dump_level & 1), ps)
    fixed = KdumpLayout(ps, pmap.max_mapnr, len(vmcore.notes_blob), 0, bool(spec.dump_level & 1)).fixed_bytes
    droppable = _droppable(vmcore, pmap, reader, present, spec)
    plan = budgets.solve(
        keep, spec.budget, fixed, spec.drop_order, ps, _KdumpCosts(pmap, reader, encoder, opts.workers), droppable
    )
    notes += plan.notes
    # the kdump sub-header's phys_base: arm64's is PHYS_OFFSET (makedumpfile get_phys_base_arm64)
    base_key = "NUMBER(PHYS_OFFSET)" if vmcore.machine == "aarch64" else "NUMBER(phys_base)"
    phys_base = int(vmcore.vmcoreinfo.get(base_key, "0"), 0) if _is_int(vmcore.vmcoreinfo.get(base_key, "0")) else 0
    uts = read_utsname(vmcore.vmcoreinfo, physmap.PhysReader(pmap, reader).read)
    with interrupt.deferred():  # from the output's creation on, a signal ends in a settled file
        sink = _open_sink(out, spec.format, spec.budget)
        writer = KdumpWriter(
            sink,
            vmcore,
            present=present,
            keep=plan.keep,
            max_mapnr=pmap.max_mapnr,
            dump_level=spec.dump_level,
            codec_flag=codec.flag,
            phys_base=phys_base,
            uts=uts,
        )
        progress = Progress(extents.count(plan.keep) * ps, opts.progress)
        stream = windows(pmap, reader, plan.keep, encoder, opts.workers, sink.shared_fd)
        result = _write(writer, sink, stream, progress, plan, present, excluded, notes)
    return result.replace(window=loss)


def _window_loss(
    opts: Options,
    vmcore: elf.Vmcore,
    read: ReadPhys,
    present: list[Extent],
    auto: dict[str, list[Extent]],
    ps: int,
    notes: list[str],
) -> windowloss.WindowLoss | None:
    """Census of the crashed kernel's pages the dump window overwrites (None: the spec has no window)."""
    if not opts.spec.exclude:
        return None
    from layoutc.dump.classify import windowloss

    window = [r.pfns(ps) for r in opts.spec.exclude if r.reason == windowloss.WINDOW_REASON]
    if not window:
        return None
    loss = windowloss.census(vmcore.vmcoreinfo, read, windowloss.lost_pages(present, auto, window), ps)
    notes.append(loss.note())
    return loss


def _write(
    writer: KdumpWriter | elfout.ElfWriter,
    sink: Sink,
    stream: Iterator[PageWindow],
    progress: Progress,
    plan: budgets.BudgetPlan,
    present: list[Extent],
    excluded: tuple[tuple[str, int], ...],
    notes: list[str],
) -> Result:
    """Write metadata and pages; on a fault or a signal keep what is written readable and say so.

    Runs with signals deferred (:func:`.interrupt.deferred`) except while pages stream in, so
    marking the dump INCOMPLETE and renaming it are never cut short by a second signal.
    """
    ps, kept, settled = writer.vmcore.page_size, plan.keep, False
    error: DumpError | None = None
    counted = _counted(stream, progress, ps)  # a generator: closed below
    try:
        try:
            with interrupt.allowed():
                writer.write_metadata()
                writer.add(counted)
            writer.finish()
        except (SourceFault, Interrupted) as exc:
            error = exc
            _salvage(writer)
            kept = writer.mark_incomplete()
        except SinkFault as exc:
            error = exc
            try:
                kept = writer.mark_incomplete()
            except SinkFault:
                notes.append("the output could not be marked INCOMPLETE after the write error")
        finally:
            _close(counted)
            _close(stream)  # stops the worker processes now, not when the generator is collected
            progress.close()
        late = _shortfall(plan, excluded)
        if error is None and late is not None:
            kept = writer.mark_incomplete()
            error = late
        settled = True
    finally:
        try:
            sink.close(publish=settled)
        except SinkFault as exc:
            error = error or exc
    zero = writer.zero_pages  # kept in bitmap 2 or the ELF file, reported apart as makedumpfile does
    return Result(
        error is None,
        extents.count(present),
        max(0, extents.count(kept) - zero),
        writer.written,
        report_order((*excluded, ("zero", zero)) if zero else excluded),
        plan.drops,
        tuple(notes),
        error,
    )


REPORT_ORDER = ("zero", "cache", "cache_private", "user", "free", "hwpoison", "offline")
"""makedumpfile's report order (``print_report()``); other reasons follow, by name."""


def report_order(excluded: tuple[tuple[str, int], ...]) -> tuple[tuple[str, int], ...]:
    """Excluded pages per reason as makedumpfile reports its classes."""
    rank = {name: i for i, name in enumerate(REPORT_ORDER)}
    return tuple(sorted(excluded, key=lambda item: (rank.get(item[0], len(rank)), item[0])))


def _droppable(
    vmcore: elf.Vmcore, pmap: physmap.PhysMap, reader: Reader, present: list[Extent], spec: FilterSpec
) -> dict[str, list[Extent]] | None:
    """Page classes the budget may drop (classified at level 31), when drop_order names any."""
    wanted = [d for d in spec.drop_order if isinstance(d, str) and d in pageclass.BUDGET_CLASSES]
    if spec.budget is None or not wanted:
        return None
    read = physmap.PhysReader(pmap, reader).read
    classes, _, _ = pageclass.for_dump(vmcore.vmcoreinfo, read, present, pmap.page_size, 31)
    classes, _ = imagekeep.hold_back(vmcore.vmcoreinfo, vmcore.loads, read, pmap.page_size, classes)
    return {c: p for c, p in classes.items() if c in wanted}


def _shortfall(plan: budgets.BudgetPlan, excluded: tuple[tuple[str, int], ...]) -> DumpError | None:
    """Why a dump that was written to the end still lacks pages, if it does."""
    missing = dict(excluded).get("truncated_source", 0)
    if missing:
        return IncompleteDump(f"the source is truncated: {missing} pages past its end were not dumped")
    if not plan.complete:
        return IncompleteDump(
            "the byte budget could not be met by the drops in drop_order; the highest pages were dropped"
        )
    return None


def _salvage(writer: KdumpWriter | elfout.ElfWriter) -> None:
    try:
        writer.flush()  # pages encoded before the source fault are good
    except SinkFault:
        pass


def _close(stream: Iterator[PageWindow]) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()


def _counted(stream: Iterator[PageWindow], progress: Progress, ps: int) -> Iterator[PageWindow]:
    for w in stream:
        progress.advance(w.npages * ps)
        yield w


def _open_sink(out: targets.OutputTarget, fmt: str, budget: int | None) -> Sink:
    if fmt == "flat" or out.stream:
        return FlatSink.open(out, budget)
    return FileSink(out, budget)


def _exclusions(
    opts: Options, present: list[Extent], auto: dict[str, list[Extent]], ps: int, notes: list[str]
) -> tuple[tuple[tuple[str, int], ...], list[Extent]]:
    """Apply the spec's ranges, the capture kernel's own RAM and the pages the source lacks.

    Returns the pages excluded per reason and the pages to keep.
    """
    by_reason: dict[str, list[Extent]] = {k: list(v) for k, v in auto.items() if v}
    for r in opts.spec.exclude:
        by_reason.setdefault(r.reason, []).append(r.pfns(ps))
    iomem = opts.iomem if opts.iomem is not None else (PROC_IOMEM if opts.source == PROC_VMCORE else None)
    if iomem:
        own = _system_ram(iomem, ps, notes, explicit=opts.iomem is not None)
        if own:
            by_reason.setdefault("capture_kernel_ram", []).extend(own)
    keep = present
    counts = []
    for reason in sorted(by_reason):
        ranges = extents.normalize(by_reason[reason])
        counts.append((reason, extents.count(extents.intersect(keep, ranges))))
        keep = extents.subtract(keep, ranges)
    return tuple(counts), keep


def _system_ram(path: str, ps: int, notes: list[str], explicit: bool) -> list[Extent]:
    """Top-level "System RAM" ranges of an iomem file, as pfn extents (docs/reference/dump-formats.md §6.2).

    A bad ``--iomem`` file is an input error; a bad default ``/proc/iomem`` only a note: the dump
    of ``/proc/vmcore`` must not be lost over it.
    """
    try:
        text = inputs.read_capped(path, "iomem file", inputs.IOMEM_MAX_BYTES, "give a copy of /proc/iomem").decode(
            "ascii", "replace"
        )
        out = _parse_iomem(path, text, ps)
    except InputError as exc:
        if explicit:
            raise
        notes.append(f"{exc}; the capture kernel's own RAM is not excluded")
        return []
    if out and all(e == (0, 1) for e in out):
        notes.append(f"{path}: addresses are hidden (not root?); the capture kernel's RAM is not excluded")
        return []
    return out


def _parse_iomem(path: str, text: str, ps: int) -> list[Extent]:
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith(" ") or not line.rstrip().endswith(": System RAM"):
            continue
        span = line.split(":", 1)[0].strip()
        lo, _, hi = span.partition("-")
        if not (_is_address(lo) and _is_address(hi)):
            raise InputError(
                f"{path}:{lineno}",
                f"{span!r} is not an address range: an iomem line reads 'START-END : NAME' with START "
                "and END hexadecimal, at most 16 digits",
                "give a copy of /proc/iomem",
            )
        start, end = int(lo, 16), int(hi, 16) + 1
        if end > start:
            out.append((start // ps, -(-end // ps)))
    return out


def _is_address(text: str) -> bool:
    """An iomem address: resource_size_t printed %0*llx, 1 to 16 hexadecimal digits (no ``re`` on the start-up
    path)."""
    return 0 < len(text) <= 16 and not text.strip(HEX_DIGITS)


def _is_int(text: str) -> bool:
    try:
        int(text, 0)
    except ValueError:
        return False
    return True


class _KdumpCosts:
    """Page costs in kdump output: 24 bytes of page_desc plus the stored payload."""

    def __init__(self, pmap: physmap.PhysMap, reader: Reader, encoder: Encoder, workers: int) -> None:
        self.pmap, self.reader, self.encoder, self.workers = pmap, reader, encoder, workers

    def worst(self, pages: list[Extent]) -> int:
        return extents.count(pages) * (PAGE_DESC.size + self.encoder.page_size)

    def cost(self, pages: list[Extent]) -> int:
        return sum(
            w.npages * PAGE_DESC.size + len(w.payload)
            for w in windows(self.pmap, self.reader, pages, self.encoder, self.workers)
        )

    def prefix(self, pages: list[Extent], avail: int) -> int:
        for w in windows(self.pmap, self.reader, pages, self.encoder, self.workers):
            for i, size in enumerate(w.sizes):
                avail -= PAGE_DESC.size + size
                if avail < 0:
                    return w.pfn + i
        return pages[-1][1] if pages else 0


class _ElfCosts:
    """Page costs in ELF output: a page of file data, nothing for pages inside long zero runs."""

    def __init__(self, zero_runs: list[Extent], ps: int) -> None:
        self.zero_runs, self.ps = zero_runs, ps

    def worst(self, pages: list[Extent]) -> int:
        return extents.count(pages) * self.ps

    def cost(self, pages: list[Extent]) -> int:
        return extents.count(extents.subtract(pages, self.zero_runs)) * self.ps

    def prefix(self, pages: list[Extent], avail: int) -> int:
        n = avail // self.ps
        for start, end in extents.subtract(pages, self.zero_runs):
            if end - start > n:
                return start + n
            n -= end - start
        return pages[-1][1] if pages else 0


def _run_elf(
    opts: Options,
    spec: FilterSpec,
    reader: Reader,
    vmcore: elf.Vmcore,
    pmap: physmap.PhysMap,
    present: list[Extent],
    keep: list[Extent],
    excluded: tuple[tuple[str, int], ...],
    notes: list[str],
    out: targets.OutputTarget,
) -> Result:
    from layoutc.dump.write import elf_output as elfout

    ps = vmcore.page_size
    # a partial last page is written whatever it holds, never counted as zero, as makedumpfile's ELF output does
    short = pmap.short_ends()
    zeros = extents.subtract(keep, [(e - 1, e) for e in sorted(short)])
    zero_runs, zero_pages = elfout.zero_scan(pmap, reader, zeros, opts.progress) if spec.dump_level & 1 else ([], 0)
    if spec.compression not in ("zlib", "none"):
        notes.append(f"compression {spec.compression!r} does not apply to ELF output")
    # Headers sized for the worst segment count any drop can cause: one more per range edge.
    droppable = _droppable(vmcore, pmap, reader, present, spec)
    extra = 2 * len(spec.drop_order) + 2 + sum(len(p) for p in (droppable or {}).values())
    nsegs = len(elfout.segments(keep, zero_runs, 0, ps)) + extra
    fixed = elfout.header_size(nsegs, len(vmcore.notes_blob), ps)
    plan = budgets.solve(keep, spec.budget, fixed, spec.drop_order, ps, _ElfCosts(zero_runs, ps), droppable)
    notes += plan.notes
    segs = elfout.segments(plan.keep, zero_runs, fixed, ps)
    with interrupt.deferred():  # from the output's creation on, a signal ends in a settled file
        sink = _open_sink(out, spec.format, spec.budget)
        writer = elfout.ElfWriter(sink, vmcore, fixed, segs, ps, zero_pages, short)
        progress = Progress(extents.count(writer.file_pages) * ps, opts.progress)
        stream = windows(pmap, reader, writer.file_pages, Encoder("none", False, ps), 1)
        return _write(writer, sink, stream, progress, plan, present, excluded, notes)
