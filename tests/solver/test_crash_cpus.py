"""crash.cpus: the crash kernel's CPU count (nr_cpus=) and what each CPU costs in its reservation.

docs/how-layouts-are-solved.md (crash.cpus), docs/reference/kernel-rules.md §10.1.
"""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.frontend.load import load_profile
from layoutc.kernel import cmdline as kcmd
from layoutc.kernel.sizing import DUMPER_WORKER, PER_CPU, PER_EXTRA_CPU, crash_reserve_auto
from layoutc.model.profile import Dumper, Profile
from layoutc.model.units import MiB
from layoutc.solve import check, solve

from .conftest import REPO

EXTRA = sum(PER_EXTRA_CPU.values())


def _load(rel: str) -> Profile:
    diags = Diagnostics()
    profile = load_profile(REPO / rel, rel, diags)
    assert profile is not None, [d.message for d in diags]
    return profile


QEMU_4G = _load("profiles/qemu/qemu-4g.yaml")  # crash.reserve: auto, the layoutc dumper, one CPU


def with_cpus(profile: Profile, cpus: int, dumper: Dumper | None = None) -> Profile:
    crash = dataclasses.replace(profile.crash, cpus=cpus)
    dump = dataclasses.replace(profile.dump, dumper=dumper) if dumper is not None else profile.dump
    return dataclasses.replace(profile, crash=crash, dump=dump)


def test_one_cpu_is_the_models_old_term() -> None:
    term = crash_reserve_auto(QEMU_4G).term("per_cpu")
    assert (term.size, term.formula) == (PER_CPU, "1 CPU(s) (nr_cpus=) x 1 MiB")
    assert [t.key for t in crash_reserve_auto(QEMU_4G).terms if t.key == "workers"] == []


def test_each_further_cpu_adds_its_kernel_cost_and_a_worker() -> None:
    four = crash_reserve_auto(with_cpus(QEMU_4G, 4))
    assert four.term("per_cpu").size == PER_CPU + 3 * EXTRA
    assert four.term("per_cpu").formula == (
        "boot CPU 1 MiB + 3 more CPU(s) (nr_cpus=4) x (percpu unit 256 KiB + kthreads 160 KiB + "
        "pcp lists 256 KiB + slub cpu slabs 256 KiB = 928 KiB)")
    assert four.term("workers").size == 4 * DUMPER_WORKER == 24 * MiB
    mdf = crash_reserve_auto(with_cpus(QEMU_4G, 4, Dumper.MAKEDUMPFILE))
    assert "workers" not in [t.key for t in mdf.terms]  # capture.sh runs makedumpfile single-threaded


def test_the_solved_layout_says_nr_cpus_and_its_reservation_grows() -> None:
    layouts = []
    for cpus in (1, 2, 8):
        diags = Diagnostics()
        profile = with_cpus(QEMU_4G, cpus)
        layout = solve(profile, diags)
        assert layout is not None and not diags.has_errors, [d.message for d in diags]
        assert check.check(layout) == []
        assert kcmd.value_of(layout.cmdline.crash, "nr_cpus") == str(cpus)
        layouts.append(layout)
    sizes = [lay.crashkernel.size for lay in layouts]
    assert sizes[0] < sizes[1] < sizes[2], sizes
    assert [lay.cmdline.production.split()[0] for lay in layouts] == [
        f"crashkernel={s // MiB}M" for s in sizes]


@settings(max_examples=60, deadline=None)
@given(cpus=st.integers(1, 63), dumper=st.sampled_from(list(Dumper)))
def test_reservation_is_monotonic_in_cpus(cpus: int, dumper: Dumper) -> None:
    low = crash_reserve_auto(with_cpus(QEMU_4G, cpus, dumper))
    high = crash_reserve_auto(with_cpus(QEMU_4G, cpus + 1, dumper))
    assert high.needed > low.needed
    assert high.reserve >= low.reserve
    assert high.needed - low.needed >= EXTRA
