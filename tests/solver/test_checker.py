"""The independent checker is not vacuous: a tampered layout breaks the rule it should."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.frontend.load import load_profile
from layoutc.model.layout import Cmdlines, Layout, MovableZone
from layoutc.solve import check, solve

REPO = Path(__file__).resolve().parents[2]


def _solved(name: str) -> Layout:
    diags = Diagnostics()
    profile = load_profile(REPO / name, name, diags)
    assert profile is not None
    layout = solve(profile, diags)
    assert layout is not None
    return layout


def _cmd(layout: Layout, **stages: str) -> Layout:
    return dataclasses.replace(layout, cmdline=dataclasses.replace(layout.cmdline, **stages))


MOVABLE = "profiles/qemu/qemu-4g.yaml"


def _rules(layout: Layout) -> set[int]:
    return {v.rule for v in check.check(layout)}


def test_sound_layout_has_no_violation() -> None:
    assert check.check(_solved(MOVABLE)) == []


@pytest.mark.parametrize(
    ("tamper", "rule"),
    [
        (lambda lo: _cmd(lo, production=lo.cmdline.production + " memmap=272M!0x127000000"), 22),
        (lambda lo: _cmd(lo, crash=lo.cmdline.crash.replace("irqpoll ", "")), 23),
        (lambda lo: _cmd(lo, crash=lo.cmdline.crash + " crashkernel=96M"), 23),
        (lambda lo: _cmd(lo, recovery=lo.cmdline.recovery + " movablecore=512M"), 24),
        (lambda lo: _cmd(lo, recovery=lo.cmdline.recovery.replace("memmap=272M!0x127000000", "")), 24),
        (lambda lo: _cmd(lo, production=lo.cmdline.production.replace("512M", "256M")), 16),
        (
            lambda lo: _cmd(
                lo,
                crash=lo.cmdline.crash.replace("0x127000000", "0x12f000000"),
                recovery=lo.cmdline.recovery.replace("0x127000000", "0x12f000000"),
            ),
            16,
        ),
        (
            lambda lo: _cmd(
                lo,
                crash=lo.cmdline.crash.replace("0x127000000", "0x127100000"),
                recovery=lo.cmdline.recovery.replace("0x127000000", "0x127100000"),
            ),
            10,
        ),
        (
            lambda lo: _cmd(
                lo,
                crash=lo.cmdline.crash.replace("0x127000000", "0xb0000000"),
                recovery=lo.cmdline.recovery.replace("0x127000000", "0xb0000000"),
            ),
            17,
        ),
        (lambda lo: _cmd(lo, production=lo.cmdline.production.replace("nokaslr", "")), 19),
        (lambda lo: _cmd(lo, production=lo.cmdline.production + " crashkernel=1G,high"), 2),
        (lambda lo: _cmd(lo, production=lo.cmdline.production.replace("256M", "256MB")), 1),
        (lambda lo: dataclasses.replace(lo, board_cmdline="x" * 2100), 7),
        (lambda lo: dataclasses.replace(lo, movable_zone=(MovableZone(0, 0x130000000, 0x140000000),)), 16),
    ],
)
def test_tampered_layout_breaks_its_rule(tamper, rule: int) -> None:  # type: ignore[no-untyped-def]
    layout = tamper(_solved(MOVABLE))
    if rule == 19:
        layout = dataclasses.replace(
            layout, kaslr=True, regions=tuple(r for r in layout.regions if r.kind != "kernel_image")
        )
    assert rule in _rules(layout), check.check(layout)


def test_cma_straddle_is_rule_21() -> None:
    layout = _solved("profiles/qemu/qemu-4g-cma.yaml")
    tampered = _cmd(layout, production=layout.cmdline.production.replace("movablecore=512M", "movablecore=1000M"))
    rules = _rules(dataclasses.replace(tampered, movable_zone=()))
    assert 21 in rules


def test_hotplug_production_must_carry_the_window() -> None:
    layout = _solved("profiles/qemu/qemu-q35-8g-k61.yaml")
    stripped = Cmdlines(
        " ".join(w for w in layout.cmdline.production.split() if not w.startswith("memmap=")),
        layout.cmdline.crash,
        layout.cmdline.recovery,
    )
    assert 23 in _rules(dataclasses.replace(layout, cmdline=stripped))
