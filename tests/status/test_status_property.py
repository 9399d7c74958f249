"""``assess`` never raises, whatever text /proc/iomem, sysfs or recover.sh's files hold."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from layoutc.dump.exit_codes import ExitCode
from layoutc.status.assess import assess
from layoutc.status.expected import expected
from layoutc.status.facts import Block, Dax, Facts, Pmem, Sourced

from .device import WINDOW_START, layout_doc

LAYOUTS = [expected(layout_doc(board)) for board in ("qemu-4g", "qemu-4g-cma", "arm64-chromebook-4g")]
HEXISH = st.text(alphabet="0123456789abcdefx- :\n", max_size=40)
TEXT = st.none() | st.text(max_size=60) | HEXISH | st.sampled_from([f"{WINDOW_START:#x}\n", "1\n", "0", "online"])
IOMEM_LINE = st.builds(lambda s, e, n, d: f"{' ' * d}{s:x}-{e:x} : {n}",
                       st.integers(0, 1 << 40), st.integers(0, 1 << 40),
                       st.sampled_from(["Crash kernel", "System RAM", "Persistent Memory", "dax0.0", ""]),
                       st.integers(0, 3))  # fmt: skip
IOMEM = st.none() | st.text(max_size=200) | st.lists(IOMEM_LINE, max_size=8).map("\n".join)

FACTS = st.builds(
    Facts,
    cmdline=TEXT,
    iomem=IOMEM,
    meminfo=TEXT,
    boot_id=TEXT,
    crash_loaded=st.builds(Sourced, st.just("/sys/kernel/kexec_crash_loaded"), TEXT),
    crash_size=st.builds(Sourced, st.just("/sys/kernel/kexec_crash_size"), TEXT),
    cma_ranges=st.builds(Sourced, st.just("/sys/kernel/kexec/crash_cma_ranges"), TEXT | HEXISH),
    block_size=TEXT,
    blocks=st.lists(st.builds(Block, st.integers(0, 100), TEXT, TEXT), max_size=6).map(tuple),
    pmem=st.lists(st.builds(Pmem, st.text(max_size=8), TEXT, TEXT, st.none() | st.binary(max_size=3),
                            st.text(max_size=10)), max_size=3).map(tuple),  # fmt: skip
    dax=st.lists(st.builds(Dax, st.text(max_size=8), TEXT, TEXT, st.sampled_from(["kmem", "device_dax", ""])),
                 max_size=3).map(tuple),  # fmt: skip
    state_files=st.lists(st.text(max_size=20), max_size=5).map(tuple),
    last_recovery=TEXT,
)
CODES = {ExitCode.OK, ExitCode.STATUS_NOT_ARMED, ExitCode.STATUS_MISMATCH, ExitCode.STATUS_DUMP_PENDING,
         ExitCode.STATUS_WINDOW_HELD, ExitCode.STATUS_UNREADABLE}  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(facts=FACTS, which=st.integers(0, 3))
def test_assess_never_raises(facts: Facts, which: int) -> None:
    layout = LAYOUTS[which] if which < len(LAYOUTS) else None
    status = assess(facts, layout, "no layout")
    assert status.exit_code in CODES
    assert status.checks
