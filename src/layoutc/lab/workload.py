"""Real vmcores of busy guests: a Debian 6.1 or 7.x x86 guest loaded with a workload, panicked, its
``/proc/vmcore`` kept.

The guest is the lab's busybox initramfs (:mod:`layoutc.lab.image.initramfs`, with Debian's python3 from
``pyrt`` and kexec), booted by :mod:`layoutc.lab.boot.qemu` under TCG; nothing of the lab's crash cycle is
used. The guest's ``/init`` (``_INIT`` below) runs the workload, loads itself as the crash kernel (``kexec
-p``, ``crashkernel=`` on the command line) and panics; the crash kernel's ``/init`` (the same script)
copies ``/proc/vmcore`` to a raw virtio disk with ``dd`` and powers off. The file lands in the lab cache as
``vmcores/workload/<release>-<workload>.vmcore`` (never committed). Workloads (sizes for a 3 GiB guest):

- ``idle``: nothing;
- ``mixed``: 600 MiB of block-device page cache, 160 MiB in tmpfs, 600 MiB anonymous, 60 000 small files;
- ``pagecache``: 1800 MiB of page cache read from the data disk, 200 MiB in tmpfs;
- ``anon``: 1600 MiB anonymous with THP ``always`` (a quarter of it zero-filled);
- ``slab``: 250 000 small files in tmpfs (dentries, inodes);
- ``hugetlb``: 512 MiB of 2 MiB hugetlb pages, half of them mapped and written.

The data disk holds real content (the host's libraries and documents, cached as ``workload/data.img``).
Anonymous memory is a mix of that content, zeros and random bytes. ``bench/dump/workload_vmcores.py``
captures them for the benchmarks; the dumper's lab tests capture the ones they check.
"""

from __future__ import annotations

import os
import re
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from layoutc.lab.boot import qemu
from layoutc.lab.boot.machine import Machine
from layoutc.lab.image import initramfs, kernels, pyrt

MiB = 1 << 20
WORKLOADS = ("idle", "mixed", "pagecache", "anon", "slab", "hugetlb")
MODULES = ("virtio_pci", "virtio_blk")

_INIT = r"""#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
mkdir -p /wl && mount -t tmpfs tmpfs /wl  # the workload's tmpfs (shmem page cache, small files)
dmesg -n 1
while read -r ko; do insmod "$ko" 2>/dev/null; done < /lab/modules
disk() {
    for s in /sys/block/vd*/serial; do
        [ "$(cat "$s")" = "$1" ] && { d=${s%/serial}; echo "${d##*/}"; return 0; }
    done
    return 1
}
echo "WL-START $(uname -r)"
if [ -e /proc/vmcore ]; then
    sz=$(stat -c %s /proc/vmcore); t0=$(date +%s)
    dd if=/proc/vmcore of="/dev/$(disk vmcore)" bs=1M 2>/dev/null; rc=$?
    sync
    echo "WL-VMCORE rc=$rc bytes=$sz seconds=$(( $(date +%s) - t0 ))"
    poweroff -f
fi
wl=$(sed -n 's/.*workload=\([a-z]*\).*/\1/p' /proc/cmdline)
t0=$(date +%s)
data=/dev/$(disk data)
exec 3<"$data"  # the block device's page cache is dropped at its last close: keep it open
cache() { dd if="$data" of=/dev/null bs=1M count="$1" 2>/dev/null; }
tmpfs() { dd if="$data" of=/wl/blob bs=1M skip=2000 count="$1" 2>/dev/null; }
anon() { python3 -S /lab/anon.py "$data" "$1" & while [ ! -e /wl/anon-ready ]; do sleep 1; done; }
files() { python3 -S /lab/files.py "$1"; }
case "$wl" in
    mixed) cache 600; tmpfs 160; anon 600; files 60000 ;;
    pagecache) cache 1800; tmpfs 200 ;;
    anon) echo always > /sys/kernel/mm/transparent_hugepage/enabled; anon 1600 ;;
    slab) files 250000 ;;
    hugetlb) echo 256 > /proc/sys/vm/nr_hugepages; mkdir -p /mnt/huge; mount -t hugetlbfs none /mnt/huge
             python3 -S /lab/huge.py 128 ;;
esac
sync
echo "WL-WORKLOAD $wl seconds=$(( $(date +%s) - t0 ))"
keys='MemFree|Buffers|Cached|Shmem|AnonPages|AnonHugePages|Slab|HugePages_Total|HugePages_Free'
grep -E "^($keys):" /proc/meminfo | tr -s ' ' | tr '\n' ';'
echo
args="console=ttyS0 reset_devices nr_cpus=1 irqpoll panic=-1"
kexec -p /lab/vmlinuz --initrd=/lab/crash.img --append="$args" \
    || kexec -s -p /lab/vmlinuz --initrd=/lab/crash.img --append="$args"
echo "WL-PANIC kexec=$?"
echo c > /proc/sysrq-trigger
"""

_ANON = r"""
import mmap, os, sys
data, mib = sys.argv[1], int(sys.argv[2])
src = open(data, "rb")
keep = []
for i in range(mib // 2):
    m = mmap.mmap(-1, 2 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    kind = i % 4
    if kind == 0:
        pass  # touched below with zeros only: zero pages
    elif kind == 3:
        m.write(os.urandom(2 << 20))
    else:
        m.write(src.read(2 << 20) or os.urandom(2 << 20))
    if kind == 0:
        for off in range(0, 2 << 20, 4096):
            m[off] = 0
    keep.append(m)
open("/wl/anon-ready", "w").close()
import time
while True:
    time.sleep(3600)
"""

_FILES = r"""
import os, sys
n = int(sys.argv[1])
for d in range(n // 1000 + 1):
    os.makedirs(f"/wl/f/{d}", exist_ok=True)
    for i in range(min(1000, n - d * 1000)):
        with open(f"/wl/f/{d}/{i}", "w") as fh:
            fh.write(str(i))
"""

_HUGE = r"""
import mmap, os, sys
n = int(sys.argv[1])
fd = os.open("/mnt/huge/x", os.O_CREAT | os.O_RDWR)
os.ftruncate(fd, n << 21)
m = mmap.mmap(fd, n << 21)
for i in range(n):
    m[i << 21:(i << 21) + (1 << 20)] = os.urandom(1 << 20)
"""


DATA_TREES = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/share/doc",
              sysconfig.get_paths()["stdlib"], "/usr/bin")
"""Where the data disk's content comes from: real libraries, programs and documents, in this order, again from
the start until the disk is full."""


class Capture(NamedTuple):
    """One capture: the vmcore (None when the guest did not produce one), what its guest reported, its time."""

    vmcore: Path | None
    lines: tuple[str, ...]  # the guest's WL- lines and /proc/meminfo before the panic
    seconds: float
    serial_log: Path
    qemu_stderr: str  # its last lines, when QEMU said something


def vmcore_path(release: str, workload: str) -> Path:
    """Where the vmcore of ``workload`` on kernel ``release`` is kept in the lab cache."""
    return kernels.cache_dir() / "vmcores" / "workload" / f"{release}-{workload}.vmcore"


def data_disk(path: Path, size: int) -> Path:
    """A raw disk of real file content (:data:`DATA_TREES`) of ``size`` bytes, built once (through a temporary
    name); zeros fill what the trees cannot."""
    if path.is_file() and path.stat().st_size == size:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as out:
        written = pass_start = 0
        while written < size:
            for p in _tree_files():
                chunk = p.read_bytes()[: size - written]
                out.write(chunk)
                written += len(chunk)
                if written >= size:
                    break
            if written == pass_start:  # nothing readable: the rest stays zero
                out.truncate(size)
                break
            pass_start = written
    os.replace(tmp, path)
    return path


def _tree_files() -> Iterator[Path]:
    for top in DATA_TREES:
        for base, dirs, names in os.walk(top):
            dirs.sort()
            for name in sorted(names):
                p = Path(base, name)
                if not p.is_symlink() and p.is_file() and os.access(p, os.R_OK):
                    yield p


def images(k: kernels.Kernel, work: Path) -> Path:
    """The guest initramfs (busybox, kexec, python3, the workload scripts, the crash kernel's image)."""
    crash = initramfs.build_initramfs(initramfs.InitramfsSpec(init=_INIT, module_dir=k.module_dir, modules=MODULES,
                                                              tools=()), work / "crash.img")  # fmt: skip
    names = pyrt.imported_modules([["-S", "-c", "import mmap, os, sys, time"]])
    extra = {"lab/anon.py": _ANON.encode(), "lab/files.py": _FILES.encode(), "lab/huge.py": _HUGE.encode(),
             "lab/vmlinuz": k.vmlinuz.read_bytes(), "lab/crash.img": crash.read_bytes(),
             **pyrt.python_files(names)}  # fmt: skip
    spec = initramfs.InitramfsSpec(init=_INIT, module_dir=k.module_dir, modules=MODULES, tools=("/usr/sbin/kexec",),
                                   extra=extra)  # fmt: skip
    return initramfs.build_initramfs(spec, work / "guest.img")


def capture(label: str, workload: str, ram: int = 3072 * MiB, timeout: float = 2400.0) -> Capture:
    """Boot Debian kernel series ``label`` (6.1, 7) with ``ram`` bytes under ``workload``, panic it, and keep
    its ``/proc/vmcore`` at :func:`vmcore_path` (replacing the one there)."""
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}: one of {', '.join(WORKLOADS)}")
    k = kernels.ensure_kernel(label)
    work = kernels.cache_dir() / "workload" / f"{k.release}-{workload}"
    work.mkdir(parents=True, exist_ok=True)
    data = data_disk(kernels.cache_dir() / "workload" / "data.img", 2400 * MiB)
    image = images(k, work)
    vmcore_img = work / "vmcore.img"
    with vmcore_img.open("wb") as fh:
        fh.truncate(ram + 256 * MiB)
    machine = Machine(ram=ram, node_sizes=(), memmap=(), unfaithful=(), notes=())
    cmdline = f"console=ttyS0 crashkernel=256M panic=-1 workload={workload}"
    boot = qemu.QemuBoot(k.vmlinuz, image, cmdline, machine, work / "serial.log", "tcg", timeout,
                         drives=(("data", data), ("vmcore", vmcore_img)), read_only=("data",))  # fmt: skip
    result = qemu.run_boot(boot)
    log = boot.serial_log.read_text(errors="replace")
    lines = tuple(line.strip() for line in log.splitlines() if line.startswith(("WL-", "MemFree")))
    match = re.search(r"WL-VMCORE rc=0 bytes=(\d+) seconds=(\d+)", log)
    if match is None:
        vmcore_img.unlink()
        return Capture(None, lines, result.seconds, boot.serial_log, result.stderr)
    with vmcore_img.open("r+b") as fh:
        fh.truncate(int(match.group(1)))
    dest = vmcore_path(k.release, workload)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(vmcore_img, dest)
    return Capture(dest, lines, result.seconds, boot.serial_log, result.stderr)
