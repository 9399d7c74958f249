"""Golden outputs per bundled profile, the layout.json schema, determinism and escaping.

Regenerate the goldens with ``LAYOUTC_UPDATE_GOLDEN=1 pytest tests/render`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.frontend.load import load_profile
from layoutc.kernel import cmdline as kcmd
from layoutc.model.layout import Layout
from layoutc.render import OUTPUTS, render_all
from layoutc.resources import schema_path
from layoutc.solve import solve

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
SOURCES = sorted((REPO / "profiles").rglob("*.yaml")) + sorted(
    (REPO / "tests/solver/fixtures").glob("*.yaml")
)
UPDATE = bool(os.environ.get("LAYOUTC_UPDATE_GOLDEN"))


def _layout(path: Path) -> Layout | None:
    diags = Diagnostics()
    profile = load_profile(path, str(path.relative_to(REPO)), diags)
    assert profile is not None, [d.message for d in diags.items]
    if profile.abstract:
        return None
    layout = solve(profile, diags)
    assert layout is not None, [d.message for d in diags.items]
    return layout


CONCRETE = [p for p in SOURCES if _layout(p) is not None]


@pytest.mark.parametrize("path", CONCRETE, ids=lambda p: p.stem)
def test_golden_outputs(path: Path) -> None:
    layout = _layout(path)
    assert layout is not None
    folder = GOLDEN / layout.board
    artifacts = {a.relpath: a.content for a in render_all(layout)}
    if UPDATE:
        for old in folder.rglob("*") if folder.exists() else []:
            if old.is_file():
                old.unlink()
        for relpath, content in artifacts.items():
            (folder / relpath).parent.mkdir(parents=True, exist_ok=True)
            (folder / relpath).write_bytes(content)
    expected = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert sorted(artifacts) == sorted(expected), "set of outputs changed (LAYOUTC_UPDATE_GOLDEN=1 to accept)"
    for relpath, content in artifacts.items():
        assert content == expected[relpath], f"{layout.board}/{relpath} differs from its golden"


@pytest.mark.parametrize("path", CONCRETE, ids=lambda p: p.stem)
def test_layout_json_matches_schema_and_is_deterministic(path: Path) -> None:
    first, second = _layout(path), _layout(path)
    assert first is not None and second is not None
    a, b = render_all(first), render_all(second)
    assert a == b
    doc = json.loads(next(x.content for x in a if x.relpath == "layout.json"))
    schema = json.loads(schema_path("layout", 1).read_text())
    Draft202012Validator.check_schema(schema)
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(doc)]
    assert errors == []
    assert doc["schema_version"] == 1
    for artifact in a:
        text = artifact.content.decode()
        assert "/work/" not in text and str(REPO) not in text
        assert "\r" not in text and text.endswith("\n")


def test_schema_describes_every_property() -> None:
    schema = json.loads(schema_path("layout", 1).read_text())

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for name, sub in (node.get("properties") or {}).items():
                assert "description" in sub, f"{where}.{name} has no description"
                walk(sub, f"{where}.{name}")
            for key in ("items", "additionalProperties"):
                if isinstance(node.get(key), dict):
                    walk(node[key], f"{where}[]")

    walk(schema, "$")


def test_outputs_table_is_declarative_and_roles_unique() -> None:
    roles = [o.role for o in OUTPUTS]
    assert len(roles) == len(set(roles))
    assert {
        "layout",
        "cmdline-production",
        "cmdline-crash",
        "grub-snippet",
        "kernel-install-cmdline",
        "mkosi-conf",
        "grub-recovery-entry",
        "bls-recovery-entry",
    } <= set(roles)


def test_recovery_entries_only_for_movable_windows() -> None:
    for path in CONCRETE:
        layout = _layout(path)
        assert layout is not None
        roles = {a.role for a in render_all(layout)}
        has_entry = "bls-recovery-entry" in roles
        assert has_entry == (layout.strategy.window_mode == "movable")
        if has_entry:
            assert layout.recovery_boot is not None
            bls = next(a for a in render_all(layout) if a.role == "bls-recovery-entry")
            assert bls.relpath == f"bls/{layout.recovery_boot.bls_id}.conf"


def test_escaping() -> None:
    assert kcmd.grub_default_value("memmap=4G$4G") == "'memmap=4G\\$4G'"
    assert kcmd.grub_script_args("memmap=4G$4G") == "'memmap=4G$4G'"
    assert kcmd.grub_script_args("memmap=272M!0x127000000") == "memmap=272M!0x127000000"
    assert kcmd.grub_script_args('console=ttyS0 #x "opt=a b" x;y') == "console=ttyS0 '#x' 'opt=a b' 'x;y'"
    assert kcmd.kernel_text('  console=ttyS0\t"opt=a b"  opt2="c d"  x  ') == 'console=ttyS0 "opt=a b" "opt2=c d" x'
    assert kcmd.shquote("memmap=258M!0x1 it's") == "'memmap=258M!0x1 it'\\''s'"


def test_grub_scripts_run_under_sh(tmp_path: Path) -> None:
    import shutil
    import subprocess

    if shutil.which("sh") is None:
        pytest.skip("no sh")
    layout = _layout(REPO / "profiles/qemu/qemu-4g.yaml")
    assert layout is not None
    for artifact in render_all(layout):
        script = tmp_path / Path(artifact.relpath).name
        script.write_bytes(artifact.content)
        if artifact.role == "grub-recovery-entry":
            env = {"PATH": "/usr/bin:/bin", "LAYOUTC_GRUB_SYSROOT": str(tmp_path / "no-kernels")}
            out = subprocess.run(["sh", str(script)], capture_output=True, text=True, check=True, env=env).stdout
            assert out.startswith(
                "menuentry 'Crash dump recovery (qemu-4g)' --id 'layoutc-recovery-qemu-4g' {"
            )
            assert "memmap=272M!0x127000000" in out
        if artifact.role == "grub-snippet":
            cmd = f'GRUB_CMDLINE_LINUX=base; . "{script}"; printf %s "$GRUB_CMDLINE_LINUX"'
            out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=True).stdout
            assert out == "base " + layout.cmdline.production


def test_origin_thread_layout_txt_shows_the_devdax_and_guard_arithmetic() -> None:
    layout = _layout(REPO / "profiles/origin-thread-4g.yaml")
    assert layout is not None
    text = next(a.content.decode() for a in render_all(layout) if a.relpath == "layout.txt")
    assert "dataoff   = ALIGN(base + 8K, align) - base = 2 MiB" in text
    assert "[0x128000000, 0x138000000): 2 block(s) back, 16 MiB not returned" in text
    assert "struct pages 64 MiB + hashes 6 MiB + percpu 2 MiB + NODE_DATA/page tables 4 MiB = 76 MiB" in text
    assert "guard [0x138000000, 0x140000000)" in text
