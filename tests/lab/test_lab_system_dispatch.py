"""``layoutc lab PROFILE --system debian``: run_system picks the cycle of the board's ``crash.stack`` (no QEMU, no
root: the cycles are stand-ins that record their call)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from layoutc.lab.boot import machine as board
from layoutc.lab.errors import LabError
from layoutc.lab.image import kernels
from layoutc.lab.layout_dir import load_layout
from layoutc.lab.report import Report
from layoutc.lab.run import LabOptions
from layoutc.lab.system import build, kdump_cycle
from layoutc.lab.system import run as sysrun
from layoutc.lab.verb import compile_profile

REPO = Path(__file__).resolve().parents[2]
K = kernels.Kernel("7", "7.2.13+deb14-cloud-amd64", Path("/nonexistent/vmlinuz"), Path("/nonexistent"), True, True)


class Reached(Exception):
    """The stand-in's mark: the layoutc-stack path got as far as building the system."""


def _compiled(tmp_path: Path, name: str) -> Path:
    out = tmp_path / name
    assert compile_profile(REPO / f"profiles/qemu/{name}.yaml", out) == 0
    return out


def _run(layout_dir: Path, tmp_path: Path, stage: str) -> Report:
    layout = load_layout(layout_dir)
    head = Report(layout.board, K.release, K.pinned, "tcg", stage, "cannot-emulate")
    opts = LabOptions(system="debian", timeout=123.0)
    return sysrun.run_system(layout_dir, layout, K, board.machine_for(layout), tmp_path / "out", opts, head, stage)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, Path, object, float]]:
    seen: list[tuple[Path, Path, object, float]] = []

    def kdump_tools(layout_dir: Path, out_dir: Path, *, kernel: object, timeout: float) -> Report:
        seen.append((layout_dir, out_dir, kernel, timeout))
        return Report("stand-in", "r", True, "tcg", "kdump-tools cycle (Debian system)", "pass")

    def ensure_system(k: kernels.Kernel) -> None:
        raise Reached(k.release)

    monkeypatch.setattr(kdump_cycle, "run_kdump_tools", kdump_tools)
    monkeypatch.setattr(build, "ensure_system", ensure_system)
    return seen


def test_board_stack_reads_the_compiled_tree(tmp_path: Path) -> None:
    assert sysrun.board_stack(_compiled(tmp_path, "qemu-4g-debian-kdump")) == "kdump-tools"
    assert sysrun.board_stack(_compiled(tmp_path, "qemu-4g-debian")) == "layoutc"
    (tmp_path / "utils" / sysrun.DISTRO_DIR / "kdump-utils").mkdir(parents=True)
    assert sysrun.board_stack(tmp_path / "utils") == "kdump-utils"


def test_a_kdump_tools_board_runs_kdump_tools_cycle_at_stage_full(tmp_path: Path, calls: list) -> None:
    layout_dir = _compiled(tmp_path, "qemu-4g-debian-kdump")
    report = _run(layout_dir, tmp_path, "full")
    assert report.stage == "kdump-tools cycle (Debian system)"
    assert calls == [(layout_dir, tmp_path / "out", K, 123.0)]  # the CLI's kernel and timeout passed through


def test_a_kdump_tools_board_at_stage_boot_is_a_usage_error(tmp_path: Path, calls: list) -> None:
    with pytest.raises(LabError, match="runs --stage full") as err:
        _run(_compiled(tmp_path, "qemu-4g-debian-kdump"), tmp_path, "boot")
    assert err.value.code == "usage"
    assert calls == []


@pytest.mark.parametrize("stage", ["boot", "full"])
def test_a_layoutc_board_runs_layoutcs_cycle(tmp_path: Path, calls: list, stage: str) -> None:
    with pytest.raises(Reached, match=re.escape(K.release)):
        _run(_compiled(tmp_path, "qemu-4g-debian"), tmp_path, stage)
    assert calls == []


def test_a_kdump_utils_board_is_refused(tmp_path: Path, calls: list) -> None:
    layout_dir = _compiled(tmp_path, "qemu-4g-debian")
    (layout_dir / sysrun.DISTRO_DIR / "kdump-utils").mkdir(parents=True)
    with pytest.raises(LabError, match="kdump-utils"):
        _run(layout_dir, tmp_path, "full")
    assert calls == []


def test_divert_runs_only_for_a_diverted_collector(tmp_path: Path) -> None:
    kept = _compiled(tmp_path, "qemu-4g-debian-kdump")  # makedumpfile 1.7.2 on 6.1: nothing diverted
    assert not (kept / kdump_cycle.DIVERT).exists()
    assert kdump_cycle.divert(kept, tmp_path / "no-root", tmp_path) is None


def test_an_efi_board_is_refused_not_booted_through_bios(tmp_path: Path, calls: list[object]) -> None:
    """The Debian system boots GRUB BIOS only: a board whose firmware places the initrd is refused, never booted
    the wrong way (its layout's initrd is a bound, not a place)."""
    for name in ("qemu-4g-debian.yaml", "qemu-4g.yaml"):
        (tmp_path / name).write_text((REPO / "profiles/qemu" / name).read_text())
    efi = tmp_path / "qemu-4g-debian-efi.yaml"
    text = (REPO / "profiles/qemu/qemu-4g-debian.yaml").read_text().replace("loader: grub-bios", "loader: grub-efi")
    efi.write_text(text.replace("board: qemu-4g-debian\n", "board: qemu-4g-debian-efi\n"))
    out = tmp_path / "efi"
    assert compile_profile(efi, out) == 0
    with pytest.raises(LabError, match="boots through EFI firmware"):
        _run(out, tmp_path, "full")
    assert calls == []
