"""probe() against fake /proc + /sys + /dev/kmsg trees round-trips through import."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from layoutc.diagnostics.diagnostic import Diagnostics, Severity, render_text
from layoutc.importer import import_profile, probe, raw_files, read_sysinfo, sysinfo_json
from layoutc.importer.sysinfo_types import SysInfo
from layoutc.model.profile import Strategy

from .helpers import CAPTURES, load_text, read

STAMP = re.compile(r"^\[\s*(\d+)\.(\d+)\] ?")


KCONFIG = CAPTURES / "kconfig"


INITRD_SIZE = 0x767000  # the lab's Debian 7.2 initrd (7.4 MiB), as a sparse file


def _kernel_files(root: Path, release: str, config: str | None) -> None:
    """/boot/config-RELEASE, /boot/initrd.img-RELEASE and /lib/modules/RELEASE from tests/captures/kconfig (Debian's
    cloud flavour of the capture's kernel version: the map captures come from the generic flavour, whose config is
    not kept)."""
    debian = "debian-6.1.0-56-cloud-amd64" if release.startswith("6.1.") else "debian-7.2.13-cloud-amd64"
    (root / "boot").mkdir(parents=True, exist_ok=True)
    (root / f"boot/config-{release}").write_bytes((KCONFIG / (config or f"{debian}.config")).read_bytes())
    with (root / f"boot/initrd.img-{release}").open("wb") as initrd:
        initrd.truncate(INITRD_SIZE)
    modules = root / "lib/modules" / release
    modules.mkdir(parents=True)
    for name in ("modules.builtin", "modules.order"):
        (modules / name).write_bytes((KCONFIG / f"{debian}.{name}").read_bytes())


def _fake_root(tmp_path: Path, name: str, *, kmsg: bool = True, config: str | None = None) -> Path:
    """A device tree rebuilt from a capture: /proc files, per-block sysfs, /dev/kmsg records, config, modules."""
    capture = CAPTURES / name
    root = tmp_path / "root"
    for rel, file in (
        ("proc/iomem", "iomem"),
        ("proc/cmdline", "cmdline"),
        ("proc/zoneinfo", "zoneinfo"),
        ("proc/sys/kernel/osrelease", "uname-r"),
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes((capture / file).read_bytes())
    memory = root / "sys/devices/system/memory"
    memory.mkdir(parents=True)
    (memory / "block_size_bytes").write_bytes((capture / "block_size_bytes").read_bytes())
    info, _ = read(name)
    assert info is not None and info.lsmem is not None and info.block_size is not None
    for row in info.lsmem.rows:
        for index in range(row.start // info.block_size, row.end // info.block_size):
            block = memory / f"memory{index}"
            (block / f"node{row.node}").mkdir(parents=True)
            (block / "state").write_text(row.state + "\n")
            (block / "removable").write_text("1\n")
            zones = "/".join(row.zones)
            (block / "valid_zones").write_text(("none" if zones == "None" else zones) + "\n")
    if kmsg:
        records = []
        for seq, line in enumerate((capture / "dmesg").read_text().splitlines()):
            stamp = STAMP.match(line)
            usec = int(stamp.group(1)) * 1_000_000 + int(stamp.group(2)) if stamp else 0
            records.append(f"6,{seq},{usec},-;{line[stamp.end() if stamp else 0 :]}\n SUBSYSTEM=memory\n")
        (root / "dev").mkdir()
        (root / "dev/kmsg").write_text("".join(records))
    _kernel_files(root, (capture / "uname-r").read_text().strip(), config)
    return root


def _import(info: SysInfo) -> str:
    diags = Diagnostics()
    text = import_profile(info, "probed", Strategy.PMEM_MOVABLE, diags)
    assert text is not None and not diags.has_errors, render_text(diags)
    return text


def _body(text: str) -> str:
    """The profile without its first comment line (which names the source)."""
    return text.split("\n", 1)[1]


@pytest.mark.parametrize(
    "name", ["qemu-k7-pc-8G-numa2/movablecore-512M", "qemu-k7-pc-4G", "qemu-k6.1-q35-8G"]
)
def test_probe_of_a_fake_tree_imports_like_the_capture(name: str, tmp_path: Path) -> None:
    diags = Diagnostics()
    info = probe(_fake_root(tmp_path, name), diags)
    assert info is not None and len(diags) == 0, render_text(diags)
    assert info.source == "probe" and info.dmesg is not None and info.dmesg.e820
    captured, _ = read(name)
    assert captured is not None and captured.kconfig is None and info.kconfig is not None
    captured = dataclasses.replace(
        captured, kconfig=info.kconfig, modules=info.modules, boot=info.boot
    )
    assert _body(_import(info)) == _body(_import(captured))
    assert info.zones == captured.zones and info.iomem == captured.iomem


def test_sysfs_lsmem_splits_nodes(tmp_path: Path) -> None:
    info = probe(_fake_root(tmp_path, "qemu-k7-pc-8G-numa2/movablecore-512M"), Diagnostics())
    assert info is not None and info.lsmem is not None
    assert [(r.first_block, r.last_block, r.node, r.zones) for r in info.lsmem.rows] == [
        (0, 0, 0, ("None",)),
        (1, 23, 0, ("DMA32",)),
        (32, 37, 0, ("Normal",)),
        (38, 38, 0, ("None",)),
        (39, 39, 0, ("Movable",)),
        (40, 69, 1, ("Normal",)),
        (70, 71, 1, ("Movable",)),
    ]


def test_probe_json_round_trip(tmp_path: Path) -> None:
    info = probe(_fake_root(tmp_path, "qemu-k7-pc-8G-numa2/movablecore-512M"), Diagnostics())
    assert info is not None
    path = tmp_path / "sysinfo.json"
    path.write_text(sysinfo_json(info))
    diags = Diagnostics()
    again = read_sysinfo(path, diags)
    assert again is not None and len(diags) == 0
    assert sysinfo_json(again) == sysinfo_json(info)
    assert _import(again) == _import(info)


def test_probe_raw_round_trip(tmp_path: Path) -> None:
    info = probe(_fake_root(tmp_path, "qemu-k7-pc-4G/movablecore-25pct"), Diagnostics())
    assert info is not None
    for source, where in ((info, "raw-as-read"), (_from_json(info, tmp_path), "raw-rendered")):
        directory = tmp_path / where
        directory.mkdir()
        for file, data in raw_files(source).items():
            (directory / file).write_bytes(data)
        diags = Diagnostics()
        again = read_sysinfo(directory, diags)
        assert again is not None and len(diags) == 0, render_text(diags)
        assert _body(_import(again)) == _body(_import(info))
    assert set(raw_files(info)) == {
        "iomem",
        "lsmem.json",
        "block_size_bytes",
        "cmdline",
        "uname-r",
        "zoneinfo",
        "dmesg",
        "config",
        "modules",
        "boot",
    }


def _from_json(info: SysInfo, tmp_path: Path) -> SysInfo:
    path = tmp_path / "from.json"
    path.write_text(sysinfo_json(info))
    again = read_sysinfo(path, Diagnostics())
    assert again is not None and not again.raw
    return again


def test_probe_without_dmesg_notes_it_and_still_imports(tmp_path: Path) -> None:
    diags = Diagnostics()
    info = probe(_fake_root(tmp_path, "qemu-k7-pc-4G", kmsg=False), diags)
    assert info is not None and info.dmesg is None
    assert [(d.code, d.severity) for d in diags] == [("LC418", Severity.NOTE)]
    assert render_text(diags) == (
        "note[LC418]: dmesg: unavailable (dmesg_restrict? run as root); SRAT and e820 lines are missing\n"
        "  = rule: probe reads what the device offers; missing optional sources lower the import's fidelity\n"
        "  = hint: the import falls back to /proc/iomem and zoneinfo\n"
    )
    profile, load_diags = load_text(_import(info), tmp_path)
    assert profile is not None and len(load_diags) == 0
    assert profile.memory.total_ram == (4 << 30) - 0x1000 - 0x400 - 0x60000 - 0x20000


def test_probe_without_iomem(tmp_path: Path) -> None:
    diags = Diagnostics()
    assert probe(tmp_path, diags) is None
    assert render_text(diags) == (
        f"error[LC401]: cannot read {tmp_path}/proc/iomem\n"
        "  = rule: a SYSINFO is probe's JSON file or a directory of raw captures with at least 'iomem' "
        "(or, for a block-granular map, 'lsmem.json'/'lsmem.txt')\n"
        "  = hint: run layoutc probe on the device, as root\n"
    )


def test_probe_of_this_machine_never_raises() -> None:
    diags = Diagnostics()
    info = probe(Path("/"), diags)
    if info is not None:
        assert sysinfo_json(info).startswith("{")
        assert raw_files(info)["iomem"]
