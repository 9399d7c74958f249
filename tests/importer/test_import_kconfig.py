"""Kernel configuration: the .config parser, probe's config and modules, and the whole chain to check."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from layoutc.diagnostics.diagnostic import Diagnostics, render_text
from layoutc.frontend.load import load_profile
from layoutc.importer import import_profile, probe, raw_files, read_sysinfo
from layoutc.importer.kconfig import KCONFIG_OPTIONS, kept_options, parse_kconfig, parse_modules
from layoutc.kernel.capabilities import KCONFIG_OPTIONS as TABLE_OPTIONS
from layoutc.kernel.capabilities import assumed_config
from layoutc.model.profile import Arch, KernelVersion, Strategy

from .test_import_probe import _fake_root

KCONFIG = Path(__file__).resolve().parent.parent / "captures" / "kconfig"
VM = "firecracker-6.18.44.config"  # the kind of VM with no KEXEC, CMA, X86_PMEM_LEGACY, DEV_DAX or MODULES


def _options(name: str) -> dict[str, str]:
    diags = Diagnostics()
    values = parse_kconfig((KCONFIG / name).read_text(), name, diags)
    assert values is not None and len(diags) == 0, render_text(diags)
    return {o.name: o.value for o in kept_options(values)}


def test_the_documented_list_is_the_capability_table() -> None:
    assert KCONFIG_OPTIONS == TABLE_OPTIONS


def test_real_configs_parse() -> None:
    vm = _options(VM)
    assert [s for s in ("KEXEC", "KEXEC_FILE", "CMA", "X86_PMEM_LEGACY", "DEV_DAX", "MODULES") if vm[s] != "n"] == []
    deb72 = _options("debian-7.2.13-cloud-amd64.config")
    assert (deb72["CMA"], deb72["X86_PMEM_LEGACY"], deb72["DEV_DAX_KMEM"], deb72["KEXEC_FILE"]) == ("y", "m", "m", "y")
    deb61 = _options("debian-6.1.0-56-cloud-amd64.config")
    assert (deb61["CMA"], deb61["ZONE_DEVICE"], deb61["MODULES"]) == ("n", "y", "y")


@pytest.mark.parametrize(("name", "arch", "version", "differs"), [
    ("debian-7.2.13-cloud-amd64.config", Arch.X86_64, "7.2", {}),
    # the one assumption for every amd64 version: 6.1 has no CMA, and crashkernel=,cma needs 6.17 anyway (LC205)
    ("debian-6.1.0-56-cloud-amd64.config", Arch.X86_64, "6.1", {"CMA": ("y", "n")}),
    ("debian-7.2.13-arm64.config", Arch.ARM64, "7.2", {}),
    ("debian-6.1.0-57-arm64.config", Arch.ARM64, "6.1", {}),
])
def test_the_assumed_configs_are_the_real_debian_kernels(name: str, arch: Arch, version: str,
                                                         differs: dict[str, tuple[str, str]]) -> None:
    """A profile without kernel.config is checked against what Debian's kernel of its arch and version builds."""
    real = _options(name)
    assumed = assumed_config(arch, KernelVersion.parse(version))
    # OF_PMEM/X86_PMEM_LEGACY do not exist on the other arch: the table says n, the file has no line
    gaps = {s: (assumed.get(s, "n"), real[s]) for s in TABLE_OPTIONS if assumed.get(s, "n") != real[s]}
    assert gaps == differs


def test_malformed_config_line_is_LC423() -> None:
    diags = Diagnostics()
    assert parse_kconfig("CONFIG_KEXEC=y\nKEXEC y\n", "config", diags) is None
    assert render_text(diags) == (
        "config:2:1: error[LC423]: not a kernel configuration line: 'KEXEC y'\n"
        "  = rule: a kernel .config has 'CONFIG_X=y|m|\"text\"|number' and '# CONFIG_X is not set' lines "
        "(scripts/kconfig/confdata.c conf_write_symbol); the modules file has 'builtin NAME' or 'module NAME' lines\n"
        "  = hint: capture /proc/config.gz (zcat) or /boot/config-$(uname -r) unchanged\n"
    )
    assert parse_modules("kernel/nd_pmem.ko\n", "modules", Diagnostics()) is None


def test_a_missing_module_file_is_LC424(tmp_path: Path) -> None:
    root = _fake_root(tmp_path, "qemu-k7-pc-4G")
    order = root / "lib/modules/7.2.13+deb14-amd64/modules.order"
    order.write_text("".join(line + "\n" for line in order.read_text().splitlines() if "nd_e820" not in line))
    diags = Diagnostics()
    info = probe(root, diags)
    assert info is not None and info.modules is not None
    assert import_profile(info, "t", Strategy.PMEM_MOVABLE, diags) is not None
    assert [d.code for d in diags] == ["LC424"]
    assert "CONFIG_X86_PMEM_LEGACY=m but nd_e820.ko is not in the kernel's module directory" in render_text(diags)


def test_chain_probe_import_check_fails_on_this_kind_of_vm(tmp_path: Path) -> None:
    """probe --raw of a root whose /proc/config.gz is the VM's, import --strategy cma, then check."""
    root = _fake_root(tmp_path, "qemu-k7-pc-4G")
    (root / "proc/config.gz").write_bytes(gzip.compress((KCONFIG / VM).read_bytes()))
    diags = Diagnostics()
    info = probe(root, diags)
    assert info is not None and len(diags) == 0, render_text(diags)
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, data in raw_files(info).items():
        (raw / name).write_bytes(data)
    assert (raw / "config").read_bytes() == (KCONFIG / VM).read_bytes()
    again = read_sysinfo(raw, diags, display="raw")
    assert again is not None
    text = import_profile(again, "vm", Strategy.CMA, diags)
    assert text is not None and len(diags) == 0, render_text(diags)
    assert "    KEXEC: n\n" in text and "    CMA: n\n" in text
    path = tmp_path / "vm.yaml"
    path.write_text(text)
    check = Diagnostics()
    assert load_profile(path, "vm.yaml", check) is None
    shown = render_text(check)
    assert [(d.code, d.path) for d in check] == [
        ("LC242", "crash"), ("LC242", "crash.memory"), ("LC242", "crash.target"), ("LC245", "window"),
    ], shown
    for words in ("CONFIG_CRASH_DUMP and CONFIG_PROC_VMCORE", "CONFIG_KEXEC_FILE and CONFIG_CMA",
                  "needs CONFIG_X86_PMEM_LEGACY", "or use crash.memory: classic", "or use crash.target: disk"):
        assert words in shown, shown
