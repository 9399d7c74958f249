"""arm64 vmcores (4 KiB pages, 48- and 52-bit VAs): translation, page classes, every output format, refusals."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import arm64_fixture as af
import kdump_layout
import pytest
import vmcore_fixtures as fixtures

from conftest import SRC, need_module, need_tool, run_dump
from layoutc.dump.read import elf_input as elf
from layoutc.dump.read import physmap
from layoutc.dump.read import vmcore_source as source
from layoutc.dump.read.arm64 import Arm64PageTable
from layoutc.dump.read.pagetable import PageTable
from layoutc.dump.read.vmcoreinfo import VmcoreInfo

PS = fixtures.PS


@pytest.fixture(scope="module", params=[52, 48], ids=["va52-lpa2", "va48"])
def kernel(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, str]:
    kern = af.Arm64Kernel(va_bits=request.param)
    fx = kern.fixture()
    return kern, fx, fx.write(str(tmp_path_factory.mktemp("arm64") / "vmcore"))


def _parse(path: str) -> elf.Vmcore:
    reader = source.FileReader(path)
    try:
        return elf.parse(reader, path)
    finally:
        reader.close()


def test_translation(kernel: Any) -> None:
    kern, _, path = kernel
    reader = source.FileReader(path)
    try:
        core = elf.parse(reader, path)
        assert (core.machine, core.nr_cpus) == ("aarch64", 2)
        read = physmap.PhysReader(physmap.build(core.loads, PS), reader).read
        table = PageTable.from_vmcoreinfo(VmcoreInfo(core.vmcoreinfo), read)
        assert isinstance(table, Arm64PageTable) and table.lpa2 == (kern.va_bits == 52)
        assert table.translate(kern.linear(af.BASE + 0x1234567)) == af.BASE + 0x1234567  # __lm_to_phys
        image = kern.image(af.UTS)  # walked through 4 KiB pages; agrees with __kimg_to_phys
        assert table.translate(image) == af.BASE + af.UTS == image - kern.kimage_voffset
        assert table.translate(kern.vmemmap_start + 64 * 0xC00) == af.BASE + af.MEMMAP + 64 * 0xC00
        assert table.translate(kern.vmemmap_start + (4 << 20)) is None  # beyond the 2 MiB block
        uts = table.read(image + 65 * 4, 8)
        assert uts == b"aarch64\0"
    finally:
        reader.close()


def test_lpa2_descriptors_carry_address_bits_51_50() -> None:
    """With LPA2 (TCR_EL1.DS) output address bits 51:50 sit in descriptor bits 9:8; without it those are SH."""
    info = af.Arm64Kernel(va_bits=52).vmcoreinfo()
    va = 0xFFFFFC0000000000 + 0x5000
    tables = {0x1000: {(va >> 48) & 0xF: 0x2003}, 0x2000: {(va >> 39) & 511: 0x3003}}
    tables[0x3000] = {(va >> 30) & 511: 0x4003}
    tables[0x4000] = {(va >> 21) & 511: 0x5003}
    tables[0x5000] = {(va >> 12) & 511: 0x0001_2345_6789_A000 | 0x300 | 0x403}

    def read(pa: int, n: int) -> bytes:
        return tables.get(pa & ~0xFFF, {}).get((pa & 0xFFF) // 8, 0).to_bytes(8, "little")

    raw = dict(line.split("=", 1) for line in info.splitlines())
    kern = af.Arm64Kernel(va_bits=52)
    raw["SYMBOL(swapper_pg_dir)"] = f"{0x1000 + kern.kimage_voffset:x}"
    lpa2 = Arm64PageTable.from_info(VmcoreInfo(raw), read)
    assert lpa2 is not None and lpa2.translate(va + 0x10) == 0x000D_2345_6789_A010  # 0b11 << 50 added
    del tables[0x1000]  # 48-bit VAs on the same kernel: 4 levels from swapper_pg_dir, bits 9:8 are SH
    tables[0x1000] = {(va >> 39) & 511: 0x3003}
    raw["NUMBER(TCR_EL1_T1SZ)"] = "0x10"
    va48 = Arm64PageTable.from_info(VmcoreInfo(raw), read)
    assert va48 is not None and not va48.lpa2
    assert va48.translate(va + 0x10) == 0x0000_2345_6789_A010  # bit 48 is not an address bit here


@pytest.mark.parametrize("level", [1, 31])
def test_kdump_keeps_the_ground_truth(kernel: Any, tmp_path: Path, level: int) -> None:
    kern, fx, path = kernel
    out = tmp_path / "out"
    proc = run_dump("--dump-level", str(level), path, str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    kd = kdump_layout.read(str(out))
    assert set(kd.dumped) == kern.kept(fx, level)
    assert kd.sub[1] == level and kd.sub[0] == af.BASE  # phys_base: PHYS_OFFSET, as makedumpfile writes it
    assert kd.utsname[:5] == (b"Linux", b"synthetic", kern.fixture_release, b"#1 SMP PREEMPT_DYNAMIC", b"aarch64")
    notes = _parse(path).notes_blob  # NT_PRSTATUS (392 bytes on arm64) and VMCOREINFO, verbatim
    assert kd.raw[kd.sub[7] : kd.sub[7] + kd.sub[8]] == notes
    for pfn in sorted(kd.dumped)[:: max(1, len(kd.dumped) // 200)]:
        assert kd.page(pfn) == fixtures.expected_page(fx, pfn), hex(pfn)


@pytest.mark.parametrize("level", [1, 31])
def test_elf_output_is_an_arm64_core(kernel: Any, tmp_path: Path, level: int) -> None:
    kern, fx, path = kernel
    out = str(tmp_path / "out.elf")
    proc = run_dump("--format", "elf", "--dump-level", str(level), path, out)
    assert proc.returncode == 0, proc.stderr.decode()
    core, src = _parse(out), _parse(path)
    assert core.e_machine == elf.EM_AARCH64 and core.notes_blob == src.notes_blob
    covered = {p for ph in core.loads for p in range(ph.p_paddr // PS, (ph.p_paddr + ph.p_memsz) // PS)}
    assert covered == kern.kept(fx, level)
    assert all(ph.p_vaddr == kern.linear(ph.p_paddr) for ph in core.loads)


def test_flat_stream_reassembles_to_the_kdump_file(kernel: Any, tmp_path: Path) -> None:
    mdf = need_tool("makedumpfile")
    _, _, path = kernel
    direct, flat, back = tmp_path / "direct", tmp_path / "flat", tmp_path / "back"
    assert run_dump("--dump-level", "31", path, str(direct)).returncode == 0
    assert run_dump("--format", "flat", "--dump-level", "31", path, str(flat)).returncode == 0
    with open(flat, "rb") as stream:
        subprocess.run([mdf, "-R", str(back)], stdin=stream, check=True, capture_output=True)
    assert back.read_bytes() == direct.read_bytes()


@pytest.mark.tools
@pytest.mark.parametrize("fmt", ["kdump", "elf"])
def test_drgn_opens_the_arm64_output(kernel: Any, tmp_path: Path, fmt: str) -> None:
    drgn: Any = need_module("drgn")
    kern, fx, path = kernel
    out = str(tmp_path / "out")
    assert run_dump("--format", fmt, "--dump-level", "31", path, out).returncode == 0
    prog = drgn.Program()
    prog.set_core_dump(out)
    assert prog.platform.arch == drgn.Architecture.AARCH64
    for pfn in sorted(kern.kept(fx, 31))[::97]:
        assert prog.read(pfn * PS, PS, True) == fixtures.expected_page(fx, pfn), hex(pfn)
    with pytest.raises(drgn.FaultError):
        prog.read((af.BASE_PFN + 0x400) * PS, PS, True)  # a free page, excluded at 31
    # drgn's own arm64 page-table walk over our fixture's tables reads init_uts_ns
    assert prog.read(kern.image(af.UTS) + 65 * 4, 7) == b"aarch64"


@pytest.mark.parametrize(
    ("line", "key", "text"),
    [
        (
            "PAGESIZE=65536",
            "PAGESIZE",
            "arm64 with 64 KiB pages is not supported; layoutc dump reads arm64 vmcores with 4 KiB pages "
            "and 48- or 52-bit virtual addresses",
        ),
        (
            "NUMBER(VA_BITS)=39",
            "NUMBER(VA_BITS)",
            "arm64 with VA_BITS 39 is not supported; layoutc dump reads arm64 vmcores with 4 KiB pages "
            "and 48- or 52-bit virtual addresses",
        ),
        (
            "NUMBER(TCR_EL1_T1SZ)=0x19",
            "NUMBER(TCR_EL1_T1SZ)",
            "arm64 running with 39-bit virtual addresses (VA_BITS 52) is not supported; layoutc dump reads "
            "arm64 vmcores with 4 KiB pages and 48- or 52-bit virtual addresses",
        ),
    ],
)
def test_unsupported_arm64_configurations_are_refused(tmp_path: Path, line: str, key: str, text: str) -> None:
    fx = af.Arm64Kernel(va_bits=52).fixture()
    assert fx.vmcoreinfo is not None
    fx.vmcoreinfo += line + "\n"  # later keys win
    path = fx.write(str(tmp_path / "vmcore"))
    proc = run_dump(path, str(tmp_path / "out"))
    assert proc.returncode == 1
    note = _note_offset(path)
    at = note + fx.vmcoreinfo.encode().rfind(b"\n" + key.encode() + b"=") + 1
    assert proc.stderr.decode() == f"layoutc dump: error: {path}:0x{at:x}: VMCOREINFO {key}: {text}\n"
    assert not (tmp_path / "out").exists()


def _note_offset(path: str) -> int:
    """File offset of the VMCOREINFO note's text in a fixture file."""
    data = Path(path).read_bytes()
    return data.index(b"OSRELEASE=")


def test_arm64_without_vmcoreinfo_keys_falls_back_to_dump_level_1(tmp_path: Path) -> None:
    fx = af.Arm64Kernel(va_bits=52).fixture()
    assert fx.vmcoreinfo is not None
    fx.vmcoreinfo = "".join(ln + "\n" for ln in fx.vmcoreinfo.splitlines() if "swapper_pg_dir" not in ln)
    path = fx.write(str(tmp_path / "vmcore"))
    proc = subprocess.run(
        [*_dump_cmd(), "--dump-level", "31", path, str(tmp_path / "out")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "VMCOREINFO lacks SYMBOL(swapper_pg_dir); using dump level 1" in proc.stderr
    assert kdump_layout.read(str(tmp_path / "out")).sub[1] == 1


def _dump_cmd() -> list[str]:
    import sys

    return ["env", f"PYTHONPATH={SRC}", sys.executable, "-m", "layoutc.dump"]
