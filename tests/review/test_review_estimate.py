"""estimate and the sizing model: terms, kernel headers, the distribution baselines, the CLI."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.frontend.load import load_profile
from layoutc.kernel.sizing import ImageSizes, crash_reserve_auto, kernel_footprint
from layoutc.model.profile import Profile
from layoutc.model.units import GiB, MiB
from layoutc.review.baselines import kdump_utils_default, kdumpctl_estimate, range_size, ubuntu_default
from layoutc.review.estimate import estimate, render_json, render_text
from layoutc.review.verbs import main_review

from ..conftest import REPO, assert_golden
from .helpers import GOLDEN, board_of, bundled_profiles

PROFILES = bundled_profiles()


def _profile(relpath: str) -> Profile:
    diags = Diagnostics()
    profile = load_profile(REPO / relpath, relpath, diags)
    assert profile is not None
    return profile


def bzimage(init_size: int, version: int = 0x020F, length: int = 0x1000) -> bytes:
    data = bytearray(length)
    data[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", data, 0x206, version)
    struct.pack_into("<I", data, 0x260, init_size)
    return bytes(data)


def arm64_image(image_size: int) -> bytes:
    data = bytearray(0x1000)
    struct.pack_into("<Q", data, 0x10, image_size)
    data[0x38:0x3C] = b"ARM\x64"
    return bytes(data)


def test_kernel_headers() -> None:
    assert kernel_footprint(bzimage(0x2C00000)) == 0x2C00000
    assert kernel_footprint(bzimage(0x2C00000, version=0x0209)) is None  # init_size needs protocol 2.10
    assert kernel_footprint(arm64_image(40 * MiB)) == 40 * MiB
    assert kernel_footprint(b"\x7fELF" + bytes(1000)) is None


@pytest.mark.parametrize("relpath", PROFILES)
def test_model_invariants(relpath: str) -> None:
    profile = _profile(relpath)
    result = crash_reserve_auto(profile)
    assert result.needed == sum(t.size for t in result.terms)
    assert all(t.size >= 0 and t.formula and t.source for t in result.terms)
    assert result.reserve % result.align == 0
    if str(profile.crash.memory) == "classic":
        assert result.reserve >= result.needed and result.cma_minimum == 0
    else:
        assert result.reserve + result.cma_minimum >= result.needed
    keys = [t.key for t in result.terms]
    swiotlb = ["swiotlb"] if str(profile.arch) == "x86_64" else []  # arm64: not measured, not modelled
    assert keys == ["kernel", "initrd_segment", "initrd_unpack", "loader", "runtime", "dumper", "per_cpu",
                    "per_gib", "target", *swiotlb, "memmap", "slack"]


def test_initrd_counts_three_times_and_real_files_override() -> None:
    profile = _profile("profiles/qemu/qemu-4g.yaml")
    base = crash_reserve_auto(profile)
    bigger = crash_reserve_auto(profile, ImageSizes(initrd_file=profile.crash.initrd_size + 10 * MiB))
    grown = sum(t.size for t in bigger.terms if t.key.startswith("initrd")) - \
        sum(t.size for t in base.terms if t.key.startswith("initrd"))
    assert grown == 30 * MiB
    measured = crash_reserve_auto(profile, ImageSizes(kernel_footprint=44 * MiB))
    assert measured.term("kernel").size == 44 * MiB and "init_size" in measured.term("kernel").formula


def test_distribution_baselines() -> None:
    assert range_size("2G-64G:256M,64G-:512M", GiB) == 0
    assert kdump_utils_default("x86_64", 4 * GiB).size == 256 * MiB
    assert kdump_utils_default("x86_64", 64 * GiB - 100 * MiB).size == 512 * MiB  # rounded up to 128M
    assert kdump_utils_default("arm64", 8 * GiB).size == 320 * MiB
    assert kdump_utils_default("x86_64", GiB).detail.endswith("no reservation (below 2G)")
    assert ubuntu_default(4 * GiB).size == 512 * MiB
    assert ubuntu_default(3 * GiB).size == 320 * MiB
    small = kdumpctl_estimate("x86_64", 4 * GiB, 40 * MiB, 8 * MiB)
    assert small.size == 256 * MiB and "= 80 MiB" in small.detail
    big = kdumpctl_estimate("x86_64", 4 * GiB, 60 * MiB, 100 * MiB)
    assert big.size == 60 * MiB + 300 * MiB + 16 * MiB


@pytest.mark.parametrize("relpath", PROFILES)
def test_estimate_golden(relpath: str) -> None:
    assert_golden(GOLDEN / board_of(relpath) / "estimate.txt", render_text(estimate(_profile(relpath))))


def test_estimate_json() -> None:
    data = json.loads(render_json(estimate(_profile("profiles/qemu/qemu-4g-cma.yaml"))))
    assert data["crash_memory"] == "cma" and data["cma_minimum"] > 0
    assert {b["name"] for b in data["baselines"]} == {"kdump-utils default", "kdumpctl estimate",
                                                      "Ubuntu kdump-tools default"}
    assert data["crashkernel"] == "crashkernel=96M"  # the profile pins crash.reserve


def test_cli_estimate_with_real_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kernel, initrd = tmp_path / "bzImage", tmp_path / "initrd.img"
    kernel.write_bytes(bzimage(44 * MiB))
    initrd.write_bytes(bytes(3 * MiB))
    code = main_review("estimate", ["profiles/qemu/qemu-4g.yaml", "--kernel", str(kernel), "--initrd",
                                    str(initrd), "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["measured"] == {"kernel": True, "initrd": True}
    kernel_term = next(t for t in data["terms"] if t["key"] == "kernel")
    assert kernel_term["size"] == 44 * MiB
    assert next(t for t in data["terms"] if t["key"] == "initrd_unpack")["size"] == 6 * MiB
    assert main_review("estimate", ["profiles/qemu/qemu-4g.yaml", "--kernel", str(tmp_path / "none")]) == 1
    assert "cannot read" in capsys.readouterr().err
