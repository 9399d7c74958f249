"""The arm64 device side against fake roots: arm.sh builds the crash kernel's DTB from the running tree
(/sys/firmware/fdt, here QEMU virt's own DTB re-written by layoutc.devicetree) with the compiled edit and the
shipped zipapp, verifies it and loads it with kexec -p -i --dtb; each way that can fail has its exit code and
its exact line. capture.sh and recover.sh find the window the arm64 way. The boards are arm64_board.py's.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from layoutc.devicetree import Edit, Node, Property, edit_from_json, parse, serialize, verify
from layoutc.dump.zipapp import build

from ..conftest import assert_golden
from ..devicetree.conftest import qemu_dtb
from .arm64_board import BLOCK, CRASH, WINDOW
from .helpers import GOLDEN, TEST_BOARDS, Run, artifacts, board, put, run_script, stub, tool, write_artifacts
from .test_arm import refused
from .test_capture import CrashKernel
from .test_recover import NextBoot, window_fs

NODE = f"/pmem@{WINDOW[0]:x}"
# the test board's iomem: RAM, the image at 0x40200000 (7.2), the crash reservation
IOMEM = f"""09000000-09000fff : pl011@9000000
40000000-13fffffff : System RAM
  40210000-4162ffff : Kernel code
  41630000-41bfffff : reserved
  41c00000-41f7ffff : Kernel data
  {CRASH[0]:x}-{CRASH[1] - 1:x} : Crash kernel
"""
# kexec: record argv, keep the DTB it was given, and refuse one that lacks the window's pmem-region
CHECK = ("import sys; from layoutc.devicetree import parse; n = parse(open(sys.argv[1], 'rb').read())"
         ".find(sys.argv[2]); sys.exit(0 if n is not None and n.strings('compatible') == ('pmem-region',) else 4)")
KEXEC = """dtb=
for a in "$@"; do case $a in --dtb=*) dtb=${{a#--dtb=}} ;; esac; done
[ -n "$dtb" ] || exit 3
cp "$dtb" "$LAYOUTC_ROOT/../kexec.dtb" || exit 3
PYTHONPATH="$LAYOUTC_ROOT/usr/lib/layoutc/layoutc-device.pyz" python3 -c "{check}" "$dtb" {node} || exit 4
echo 1 >"$LAYOUTC_ROOT/sys/kernel/kexec_crash_loaded\""""
# 7.2 lists _text (below _stext); what a reader without CAP_SYSLOG sees: zero addresses
KALLSYMS = "0000000000000000 T _text\n0000000000000000 T _stext\n0000000000000000 T __kvm_nvhe___invalid\n"
# arm64 window boards: the test boards, and the bundled ones (QEMU virt layouts: 4 GiB, and 2 x 4 GiB)
WINDOW_BOARDS = ("arm64-virt-4g", "arm64-chromebook-4g", "arm64-server-8g-2node")


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pyz") / "layoutc-device.pyz"
    build(str(out))
    return out


def running_fdt(extra: tuple[Node, ...] = (), dtb: str = "virt-4G") -> bytes:
    """QEMU virt's DTB (seeds and all), read and written again by layoutc.devicetree, plus ``extra``."""
    tree = parse(qemu_dtb(dtb))
    root = tree.root
    for node in extra:
        root = root.with_child(node)
    return serialize(dataclasses.replace(tree, root=root))


def _zoneinfo(doc: dict[str, Any]) -> str:
    """Each node's Movable zone as the layout predicts it (what arm.sh's awk reads of /proc/zoneinfo)."""
    out = []
    for zone in doc["movable_zone"]:
        pfn, pages = zone["start"] >> 12, (zone["end"] - zone["start"]) >> 12
        out.append(f"Node {zone['node']}, zone   Normal\n  pages free     100\n        spanned  0\n"
                   f"Node {zone['node']}, zone  Movable\n  pages free     100\n        spanned  {pages}\n"
                   f"        present  {pages}\n  start_pfn:           {pfn}\n")
    return "".join(out)


def _iomem(doc: dict[str, Any]) -> str:
    """System RAM per RAM range, with the layout's kernel image and crash reservation inside."""
    inner = sorted((r["start"], r["end"], {"kernel_image": "Kernel code", "crashkernel": "Crash kernel"}[r["kind"]])
                   for r in doc["regions"] if r["kind"] in ("kernel_image", "crashkernel"))
    lines = ["09000000-09000fff : pl011@9000000"]
    for ram in (m for m in doc["memory"]["map"] if m["type"] == "ram"):
        lines.append(f"{ram['start']:x}-{ram['end'] - 1:x} : System RAM")
        lines += [f"  {s:x}-{e - 1:x} : {n}" for s, e, n in inner if ram["start"] <= s < ram["end"]]
    return "\n".join(lines) + "\n"


class Arm64:
    """A rendered arm64 window board and a production boot's fake root that satisfies its layout."""

    def __init__(self, tmp: Path, pyz: Path, name: str = "arm64-virt-4g", prof: Any = None) -> None:
        tool("sh")
        tool("python3")
        base, self.doc = board(name)
        self.prof = prof or base
        self.device = write_artifacts(self.prof, self.doc, tmp / "out")
        self.root, self.bin, self.kept = tmp / "root", tmp / "bin", tmp / "kexec.dtb"
        self.node = f"/pmem@{self.doc['dump_window']['start']:x}"
        self.dtb = "virt-8G-numa2" if len(self.doc["memory"]["nodes"]) > 1 else "virt-4G"
        stub(self.bin, "logger", "")
        stub(self.bin, "dmesg", "")
        stub(self.bin, "kexec", KEXEC.format(check=CHECK, node=self.node))
        put(self.root, "usr/lib/layoutc/layoutc-device.pyz", pyz.read_bytes())
        put(self.root, "etc/layoutc/crash-dt.json", (self.device / "crash-dt.json").read_bytes())
        put(self.root, "sys/firmware/fdt", running_fdt(dtb=self.dtb))
        put(self.root, "proc/iomem", IOMEM if name == "arm64-virt-4g" else _iomem(self.doc))
        put(self.root, "proc/zoneinfo", _zoneinfo(self.doc))
        self.cmdline(self.doc["cmdline"]["production"])
        put(self.root, "sys/devices/system/memory/block_size_bytes", f"{BLOCK:x}\n")
        put(self.root, "sys/kernel/kexec_crash_size", f"{self.doc['crashkernel']['size']}\n")
        put(self.root, "sys/kernel/kexec_crash_loaded", "0\n")
        put(self.root, "boot/crash/vmlinuz", "kernel")
        put(self.root, "boot/crash/initrd.img", "initrd")
        put(self.root, "proc/kallsyms", KALLSYMS)
        for zone in self.doc["movable_zone"]:
            for index in range(zone["start"] // BLOCK - 4, zone["end"] // BLOCK):
                self.block(index, "online", "Movable" if index >= zone["start"] // BLOCK else "Normal")

    def cmdline(self, params: str) -> None:
        put(self.root, "proc/cmdline", f"console=ttyAMA0 {params}\n")

    def block(self, index: int, state: str, zones: str) -> None:
        put(self.root, f"sys/devices/system/memory/memory{index}/state", state + "\n")
        put(self.root, f"sys/devices/system/memory/memory{index}/valid_zones", zones + "\n")

    def arm(self, *args: str) -> Run:
        return run_script(self.device / "arm.sh", self.root, self.bin, *args)

    def edit(self) -> Edit:
        return edit_from_json(json.loads((self.device / "crash-dt.json").read_text()))


def armed(b: Arm64, run: Run) -> None:
    assert run.code == 0, run.err
    (kexec,) = run.called("kexec")
    r = b.root
    append = " ".join(f"{b.doc['crash_board_cmdline']} {b.doc['cmdline']['crash']}".split())
    assert "cma=0" in append.split() and "elfcorehdr" not in append
    assert kexec == (f"kexec [-p] [-i] [--dtb={r}/run/layoutc/crash.dtb] [{r}/boot/crash/vmlinuz] "
                     f"[--initrd={r}/boot/crash/initrd.img] [--append={append}]")
    assert verify(b.kept.read_bytes(), b.edit()) == []


@pytest.mark.parametrize("name", [*WINDOW_BOARDS, "arm64-chromebook-8g", "arm64-virt-4g-reboot"])
def test_edit_artifact_matches_the_schema_and_the_window(name: str) -> None:
    """Every arm64 window board's crash-dt.json is schema-valid and declares exactly its layout's window."""
    import jsonschema

    from ..conftest import REPO

    schema = json.loads((REPO / "schemas/devicetree-edit/v1/devicetree-edit.schema.json").read_text())
    prof, doc = board(name)
    document = json.loads(artifacts(prof, doc)["device/crash-dt.json"])
    jsonschema.validate(document, schema)
    (region,) = edit_from_json(document).pmem_regions
    w = doc["dump_window"]
    assert (region.base, region.size, region.volatile) == (w["start"], w["size"], True)
    assert region.numa_node_id == w["node"]  # always: kmem refuses node -1, a tree without nodes has node 0


def test_no_edit_without_an_arm64_window() -> None:
    for name in ("arm64-8g", "qemu-4g", "chromebook-4g"):
        assert "device/crash-dt.json" not in artifacts(*board(name)), name


def test_edit_artifact(pyz: Path, tmp_path: Path) -> None:
    """device/crash-dt.json is a devicetree-edit v1 document of the window, with its NUMA node."""
    b = Arm64(tmp_path, pyz)
    edit = b.edit()
    (region,) = edit.pmem_regions
    assert (region.base, region.size, region.volatile, region.numa_node_id) == (*WINDOW, True, 0)
    assert edit.remove_seeds
    # a board whose tree has no NUMA nodes still names node 0, which the kernel fakes: kmem refuses node -1
    nonuma = edit_from_json(json.loads(artifacts(*board("arm64-virt-4g-reboot"))["device/crash-dt.json"]))
    assert nonuma.pmem_regions[0].numa_node_id == 0


@pytest.mark.parametrize("name", WINDOW_BOARDS)
def test_production_arms_with_the_edited_tree(pyz: Path, tmp_path: Path, name: str) -> None:
    b = Arm64(tmp_path, pyz, name)
    armed(b, b.arm("production"))
    w = b.doc["dump_window"]
    tree = parse(b.kept.read_bytes())
    node = tree.find(b.node)
    assert node is not None and node.strings("compatible") == ("pmem-region",) and node.has("volatile")
    assert tree.reg(b.node) == ((w["start"], w["size"]),) and node.u32("numa-node-id") == w["node"]
    chosen = tree.find("/chosen")
    assert chosen is not None and not chosen.has("kaslr-seed") and not chosen.has("rng-seed")
    assert parse(qemu_dtb(b.dtb)).find("/chosen").has("kaslr-seed"), "the input had a seed to remove"  # type: ignore[union-attr]
    assert not run_blocks_touched(b)


def run_blocks_touched(b: Arm64) -> list[str]:
    """Blocks whose state is not what the fake root set: arm.sh must never offline boot memory on arm64."""
    return [p.parent.name for p in (b.root / "sys/devices/system/memory").glob("memory*/state")
            if p.read_text() != "online\n"]


def test_dtc_reads_the_edited_tree(pyz: Path, tmp_path: Path) -> None:
    dtc = tool("dtc")
    b = Arm64(tmp_path, pyz)
    armed(b, b.arm("production"))
    result = subprocess.run([dtc, "-I", "dtb", "-O", "dts", str(b.kept)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr, result.stderr
    assert (f"\tpmem@{WINDOW[0]:x} {{\n\t\tcompatible = \"pmem-region\";\n\t\treg = <0x01 0x28000000 0x00 0x10000000>;"
            "\n\t\tvolatile;\n\t\tnuma-node-id = <0x00>;\n\t};") in result.stdout
    assert "kaslr-seed" not in result.stdout and "rng-seed" not in result.stdout


def test_no_offline_proof_on_arm64(pyz: Path, tmp_path: Path) -> None:
    """prove_movability would offline boot blocks, which arm64 refuses (EPERM): it is not rendered there."""
    prof, _ = board("arm64-virt-4g")
    b = Arm64(tmp_path, pyz, prof=dataclasses.replace(prof, prove_movability=True))
    text = (b.device / "arm.sh").read_text()
    assert "echo offline" not in text and "memmap" not in text and "-s -p" not in text
    x86, doc = board("qemu-4g")
    assert "echo offline" in artifacts(dataclasses.replace(x86, prove_movability=True), doc)["device/arm.sh"].decode()
    armed(b, b.arm("production"))
    assert not run_blocks_touched(b)


def test_recovery_arms_with_the_boot_loaders_node(pyz: Path, tmp_path: Path) -> None:
    """On the recovery boot the running tree already has the window's node (the boot loader's): replaced."""
    b = Arm64(tmp_path, pyz)
    b.cmdline(b.doc["cmdline"]["recovery"])
    b.block(38, "online", "Movable")  # the kmem block
    loaders = Node(NODE[1:], (Property.string("compatible", "pmem-region"), Property("reg", bytes(16))))
    put(b.root, "sys/firmware/fdt", running_fdt((loaders,)))
    armed(b, b.arm("recovery"))


def test_production_refuses_the_recovery_boot(pyz: Path, tmp_path: Path) -> None:
    b = Arm64(tmp_path, pyz)
    b.cmdline(b.doc["cmdline"]["recovery"])
    refused(b.arm("production"), 10, "production mode on a recovery boot (mem=3712M on the cmdline)")
    assert (b.device / "systemd/layoutc-arm.service").read_text().count("ConditionKernelCommandLine=!mem=3712M\n") == 1


def _other_node(b: Arm64) -> None:
    put(b.root, "sys/firmware/fdt", running_fdt((Node(NODE[1:], (Property.string("compatible", "mmio-sram"),)),)))


def _overlapping_region(b: Arm64) -> None:
    reg = (0x1_2000_0000).to_bytes(8, "big") + (0x2000_0000).to_bytes(8, "big")
    node = Node("pmem@120000000", (Property.string("compatible", "pmem-region"), Property("reg", reg)))
    put(b.root, "sys/firmware/fdt", running_fdt((node,)))


def _kernel_in_window(b: Arm64) -> None:
    """The EFI stub's physical KASLR put the image at 0x130a00000 in one measured boot (docs/arm64.md)."""
    put(b.root, "proc/iomem", IOMEM + "  130a00000-131dfffff : Kernel code\n")


FAILURES: dict[str, tuple[Callable[[Arm64], object], int, str]] = {
    "fdt-missing": (lambda b: (b.root / "sys/firmware/fdt").unlink(), 22,
                    "cannot read /sys/firmware/fdt (the running kernel's device tree, "
                    "which the crash kernel's is built from)"),
    "fdt-garbage": (lambda b: put(b.root, "sys/firmware/fdt", b"\xd0\x0d\xfe\xed" + bytes(60)), 22,
                    "the device tree edit cannot be applied to /sys/firmware/fdt: "),
    "edit-missing": (lambda b: (b.root / "etc/layoutc/crash-dt.json").unlink(), 22,
                     "the device tree edit /etc/layoutc/crash-dt.json is missing"),
    "tool-missing": (lambda b: (b.root / "usr/lib/layoutc/layoutc-device.pyz").unlink(), 22,
                     "/usr/lib/layoutc/layoutc-device.pyz (the device tree tool) is missing"),
    "node-not-pmem": (_other_node, 22, "the device tree edit cannot be applied to /sys/firmware/fdt: "
                      f"{NODE} exists and is not a pmem-region; refusing to replace it"),
    "overlapping-region": (_overlapping_region, 22, "the device tree edit cannot be applied to /sys/firmware/fdt: "
                           f"{NODE[1:]} overlaps the existing pmem-region /pmem@120000000"),
    "lockdown": (lambda b: put(b.root, "sys/kernel/security/lockdown", "none [integrity] confidentiality\n"), 19,
                 "kernel lockdown refuses kexec_load, and kexec_file_load (kexec -s) cannot carry the crash "
                 "kernel's device tree"),
    "block-in-normal": (lambda b: b.block(37, "online", "Normal"), 12,
                        "memory block 37 (0x128000000) is 'online' in 'Normal', layout needs online in Movable"),
    "kallsyms-without-text": (lambda b: put(b.root, "proc/kallsyms", KALLSYMS.replace(" _text\n", " _stext_x\n")), 23,
                              "/proc/kallsyms lists no _text: kexec-tools would write a broken ELF core header "
                              "(arm64 kernels below 7.0)"),
    "kallsyms-unreadable": (lambda b: (b.root / "proc/kallsyms").unlink(), 23,
                            "cannot read /proc/kallsyms: kexec-tools needs its _text"),
    "kernel-in-window": (_kernel_in_window, 14,
                         "window [0x128000000, 0x138000000) overlaps 'Kernel code' [0x130a00000, 0x131e00000)"),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_refusals(pyz: Path, tmp_path: Path, case: str) -> None:
    b = Arm64(tmp_path, pyz)
    breaks, code, line = FAILURES[case]
    breaks(b)
    run = b.arm("production")
    refused(run, code, line)
    if not line.endswith(": "):
        assert run.err == f"layoutc-arm: {line}\n"
    assert not (b.root / "sys/kernel/kexec_crash_loaded").read_text().startswith("1")


def test_fdt_garbage_names_the_reason(pyz: Path, tmp_path: Path) -> None:
    b = Arm64(tmp_path, pyz)
    put(b.root, "sys/firmware/fdt", b"\xd0\x0d\xfe\xed" + bytes(60))
    run = b.arm("production")
    assert run.code == 22 and run.err.startswith("layoutc-arm: the device tree edit cannot be applied to "
                                                 "/sys/firmware/fdt: "), run.err
    assert "(at byte 0x14)" in run.err and "Traceback" not in run.err


def test_rearm_rebuilds_the_tree(pyz: Path, tmp_path: Path) -> None:
    b = Arm64(tmp_path, pyz)
    put(b.root, "sys/kernel/kexec_crash_loaded", "1\n")
    armed(b, b.arm("rearm"))


@pytest.mark.parametrize("name", TEST_BOARDS)
def test_golden(name: str) -> None:
    produced = artifacts(*board(name))
    for relpath, content in produced.items():
        assert_golden(GOLDEN / name / relpath, content)
    on_disk = {str(p.relative_to(GOLDEN / name)) for p in (GOLDEN / name).rglob("*") if p.is_file()}
    assert on_disk == set(produced)


def test_capture_detects_a_crash_kernel_without_vmcore(tmp_path: Path) -> None:
    ck = CrashKernel(tmp_path, "arm64-virt-4g", *board("arm64-virt-4g"))
    (ck.root / "proc/vmcore").unlink()
    put(ck.root, "proc/device-tree/chosen/linux,elfcorehdr", bytes(16))
    run = ck.capture()
    assert run.code == 40
    assert run.err == ("layoutc-capture: a crash kernel (its device tree has /chosen/linux,elfcorehdr) without a "
                       "readable /proc/vmcore: the ELF core header was refused (see dmesg)\n")


def test_capture_writes_the_window(tmp_path: Path) -> None:
    ck = CrashKernel(tmp_path, "arm64-virt-4g", *board("arm64-virt-4g"))
    stub(ck.bin, "fw_setenv", "")
    run = ck.capture()
    assert run.code == 0, run.err
    assert (ck.mnt / "COMPLETE").exists() and run.called("fw_setenv") == ["fw_setenv [layoutc_next] [recovery]"]
    assert run.called("mkfs.ext4")[0].endswith(f"[{ck.root}/dev/pmem0]")


def test_recover_hands_the_window_back(tmp_path: Path) -> None:
    prof, doc = board("arm64-virt-4g")
    nb = NextBoot(tmp_path, "arm64-virt-4g", prof, doc=doc)
    window_fs(nb.fs)
    run = nb.recover()
    assert run.code == 0, run.err
    assert run.called("ndctl")[0].startswith("ndctl [create-namespace] [--reconfig=namespace0.0] [-m] [devdax]")
    assert run.called("daxctl") == ["daxctl [reconfigure-device] [--mode=system-ram] [dax0.0]"]
    assert (nb.stored() / "vmcore").exists()


def test_recover_defers_the_return_without_kmem(tmp_path: Path) -> None:
    prof, doc = board("arm64-virt-4g-reboot")
    nb = NextBoot(tmp_path, "arm64-virt-4g-reboot", prof, doc=doc)
    window_fs(nb.fs)
    run = nb.recover()
    assert run.code == 0 and not run.called("ndctl") and run.called("systemctl"), run.err
    assert ("layoutc-recover: dump stored; the window returns to RAM at the next normal boot (release: reboot: "
            "no devdax and kmem hand-back here); rebooting into production") in run.err


def test_recover_names_a_missing_node(tmp_path: Path) -> None:
    prof, doc = board("arm64-virt-4g")
    nb = NextBoot(tmp_path, "arm64-virt-4g", prof, doc=doc)
    shutil.rmtree(nb.root / "sys/block/pmem0")
    shutil.rmtree(nb.root / "sys/bus")
    run = nb.recover()
    assert run.code == 30
    assert run.err.endswith(
        "layoutc-recover: no pmem device at the window's address 0x128000000: this boot's device tree has no "
        f"{NODE} (pmem-region) node; the boot loader must add it (docs/arm64.md)\n"), run.err
    put(nb.root, f"proc/device-tree{NODE}/compatible", b"pmem-region\0")
    run = nb.recover()
    assert run.code == 30 and "of_pmem loaded?" in run.err, run.err


def test_not_a_recovery_boot_without_mem(tmp_path: Path) -> None:
    prof, doc = board("arm64-virt-4g")
    nb = NextBoot(tmp_path, "arm64-virt-4g", prof, doc=doc)
    put(nb.root, "proc/cmdline", f"console=ttyAMA0 {doc['cmdline']['production']}\n")
    run = nb.recover()
    assert run.code == 0 and not run.called("ndctl")
    assert "not a recovery boot (mem=3712M is not on the cmdline); nothing to do" in run.err


@pytest.mark.parametrize("shell", ["busybox sh", "bash --posix"])
def test_arm_under_other_shells(pyz: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shell: str) -> None:
    """The lab's arm64 guests run busybox: arm.sh arms there too, and refuses with the same line (and so
    under bash --posix; dash runs every other test as /bin/sh).

    busybox-static runs its own applets (logger, awk, head, ...) before PATH, but has no kexec and no
    python3, so the stubs and the shipped tool still run; with no /dev/log its logger reaches nothing.
    """
    tool(shell.split()[0])
    monkeypatch.setenv("LAYOUTC_TEST_SHELL", shell)
    b = Arm64(tmp_path, pyz)
    for script in sorted(b.device.glob("*.sh")):
        result = subprocess.run([*shell.split(), "-n", str(script)], capture_output=True)
        assert result.returncode == 0, script
    armed(b, b.arm("production"))
    b.block(37, "online", "Normal")
    run = b.arm("production")
    assert run.code == 12 and run.err.endswith(
        "layoutc-arm: memory block 37 (0x128000000) is 'online' in 'Normal', layout needs online in Movable\n"), run.err


def test_compile_check_covers_the_edit(tmp_path: Path) -> None:
    """compile writes device/crash-dt.json for a bundled arm64 window board, and --check sees it drift."""
    from layoutc.cli.main import main

    from ..conftest import REPO

    source = str(REPO / "profiles/arm64/chromebook-4g.yaml")
    out = tmp_path / "out"
    assert main(["compile", source, "-o", str(out)]) == 0
    edit = out / "device/crash-dt.json"
    assert edit_from_json(json.loads(edit.read_text())).pmem_regions[0].volatile
    assert main(["compile", source, "-o", str(out), "--check"]) == 0
    edit.write_text("{}\n")
    assert main(["compile", source, "-o", str(out), "--check"]) == 3
