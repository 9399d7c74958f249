"""Random memory maps: whatever the solver emits satisfies every rule (per the independent checker)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.frontend.load import load_profile
from layoutc.solve import check, solve

MiB = 1 << 20
GiB = 1 << 30
# Infeasibility is allowed (a random board may be too small); a rule broken by the solver (LC315) never is.
ALLOWED = {"LC302", "LC303", "LC304", "LC306", "LC310", "LC312", "LC317", "LC318"}


@st.composite
def boards(draw: st.DrawFn) -> str:
    low_top = draw(st.integers(min_value=512, max_value=3584)) * MiB
    high_blocks = draw(st.integers(min_value=0, max_value=96))
    nodes = draw(st.integers(min_value=1, max_value=3))
    ranges = [
        "    - {start: 0x0, end: 0x9fc00, type: ram}",
        "    - {start: 0xf0000, end: 0x100000, type: reserved}",
        f"    - {{start: 0x100000, end: {low_top:#x}, type: ram}}",
        f"    - {{start: {low_top:#x}, end: {low_top + 2 * MiB:#x}, type: acpi}}",
    ]
    start = 4 * GiB
    per_node = max(1, high_blocks // nodes)
    for node in range(nodes):
        blocks = per_node if node < nodes - 1 else max(1, high_blocks - per_node * (nodes - 1))
        if high_blocks == 0:
            break
        tail = draw(st.sampled_from([0, 0, 32 * MiB, 100 * MiB]))
        end = start + blocks * 128 * MiB - tail
        ranges.append(f"    - {{start: {start:#x}, end: {end:#x}, type: ram, node: {node}}}")
        start = start + blocks * 128 * MiB
        if node < nodes - 1 and draw(st.booleans()):
            start += draw(st.sampled_from([2 * MiB, 36 * MiB, 64 * MiB]))  # a node that starts inside a block
    if high_blocks == 0:
        nodes = 1
    memory = draw(st.sampled_from(["classic", "cma"]))
    target = draw(st.sampled_from(["movable", "movable", "hotplug", "disk"]))
    size = draw(st.sampled_from(["auto", "auto", "256M", "300M", "640M"]))
    dmap = draw(st.sampled_from(["mem", "dev"]))
    text = [
        "schema_version: 1",
        "board: random",
        'kernel: {version: "7.2", cmdline: console=ttyS0}',
        "memory:",
        "  block_size: 128M",
        f"  srat: {'true' if nodes > 1 or target == 'hotplug' or draw(st.booleans()) else 'false'}",
        "  map:",
        *ranges,
        "crash:",
        f"  memory: {memory}",
        f"  target: {'disk' if target == 'disk' else 'pmem-window'}",
        "  reserve: auto" if memory == "classic" else "  reserve: 96M\n  cma_size: 256M",
    ]
    if target == "disk":
        text.append("disk: {device: /dev/sda2}")
    else:
        text += ["window:", f"  mode: {target}", f"  size: {size}", f"  devdax_map: {dmap}"]
    return "\n".join(text) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(boards())
def test_solver_output_satisfies_every_rule(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.yaml"
        path.write_text(text)
        diags = Diagnostics()
        profile = load_profile(path, "p.yaml", diags)
        assert profile is not None, [d.message for d in diags.items]
        layout = solve(profile, diags)
    codes = {d.code for d in diags.items if d.severity.label == "error"}
    assert "LC315" not in codes, [d.message for d in diags.items]
    if layout is None:
        assert codes and codes <= ALLOWED, [f"{d.code} {d.message}" for d in diags.items]
        return
    assert check.check(layout) == []
    window = layout.dump_window
    if window is not None:
        assert window.start % (2 * MiB) == 0
        if window.release == "kmem":
            assert window.devdax.blocks_returned >= 1
        for guard in layout.guards:
            assert window.end <= guard.start or window.start >= guard.end


PIN_ERRORS = ALLOWED | {"LC305", "LC307", "LC308", "LC309"}


@st.composite
def pinned_boards(draw: st.DrawFn) -> str:
    text = draw(boards())
    pins = []
    unsafe = draw(st.booleans())
    if draw(st.booleans()):
        base = draw(st.integers(min_value=2048, max_value=20000)) * MiB
        pins.append(f"  window_base: {{value: {base:#x}, unsafe: {str(unsafe).lower()}}}")
    if draw(st.booleans()):
        mc = draw(st.sampled_from(["256M", "512M", "1G", "10%", "25%", "50%"]))
        pins.append(f'  movablecore: {{value: "{mc}", unsafe: {str(unsafe).lower()}}}')
    if draw(st.booleans()):
        offset = draw(st.integers(min_value=1, max_value=200)) * 16 * MiB + draw(st.sampled_from([0, 0, MiB]))
        pins.append(f"  crashkernel_offset: {{value: {offset:#x}, unsafe: {str(unsafe).lower()}}}")
    return text + ("pins:\n" + "\n".join(pins) + "\n" if pins else "")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pinned_boards())
def test_pins_are_honoured_or_refused_never_silently_broken(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.yaml"
        path.write_text(text)
        diags = Diagnostics()
        profile = load_profile(path, "p.yaml", diags)
        assert profile is not None, [d.message for d in diags.items]
        layout = solve(profile, diags)
    codes = {d.code for d in diags.items if d.severity.label == "error"}
    assert "LC315" not in codes, [d.message for d in diags.items]
    if layout is None:
        assert codes and codes <= PIN_ERRORS, [f"{d.code} {d.message}" for d in diags.items]
        return
    accepted = {u.rule for u in layout.unsafe}
    assert {v.rule for v in check.check(layout)} <= accepted
    if layout.unsafe:
        assert "unsafe: true" in text
