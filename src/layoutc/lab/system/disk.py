"""The system's virtual disks, made without loop devices or mounts.

* the boot disk: a sparse raw file with an MBR (``sfdisk``) and one bootable Linux partition from 1 MiB,
  filled by ``mke2fs -t ext4 -d ROOT -E offset=`` (the file system written in place at the partition's
  offset); GRUB is put on it by the system's own ``grub-install`` on its first boot (``sh/grub-setup.sh``);
* the stage disk: ext4 labelled ``STAGE_LABEL`` holding the lab's plan, stages and probe zipapp.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from layoutc.lab.errors import LabError
from layoutc.lab.image import kernels
from layoutc.lab.system.plan import ROOT_UUID, STAGE_LABEL

PART_START = 1 << 20  # the partition's first byte (sector 2048): the MBR gap holds GRUB's core image
SFDISK_SCRIPT = f"label: dos\nstart={PART_START // 512}, type=83, bootable\n"


def make_boot_disk(root: Path, dest: Path, size: int) -> Path:
    """``dest``: MBR + one ext4 partition holding ``root`` (file system UUID ``ROOT_UUID``)."""
    dest.unlink(missing_ok=True)
    with dest.open("wb") as f:
        f.truncate(size)
    proc = subprocess.run(["sfdisk", "--quiet", str(dest)], input=SFDISK_SCRIPT, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    if proc.returncode != 0:
        raise LabError("command-failed", f"sfdisk {dest}: {proc.stderr.strip()}")
    kernels.run_tool(["mke2fs", "-q", "-F", "-t", "ext4", "-U", ROOT_UUID, "-L", "root", "-d", str(root),
                      "-E", f"offset={PART_START}", str(dest), f"{(size - PART_START) // 1024}k"],
                     timeout=900)  # fmt: skip
    return dest


def make_stage_disk(files: Mapping[str, tuple[bytes, int]], dest: Path, size: int = 64 << 20) -> Path:
    """``dest``: ext4 labelled ``STAGE_LABEL`` with ``files`` (relative path → (bytes, mode))."""
    with tempfile.TemporaryDirectory(prefix="layoutc-lab-stage-") as tmp:
        for rel, (data, mode) in files.items():
            path = Path(tmp) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            path.chmod(mode)
        dest.unlink(missing_ok=True)
        kernels.run_tool(["mke2fs", "-q", "-F", "-t", "ext4", "-L", STAGE_LABEL, "-d", tmp, str(dest),
                          f"{size // 1024}k"])  # fmt: skip
    return dest


def copy_root(src: Path, dest: Path) -> Path:
    """A per-run copy of the cached root (``cp -a``: owners, modes, links, device nodes kept), with the lab's own
    files written again as this checkout has them: the image's key covers what debootstrap and dpkg install,
    not these, so a cached image would otherwise boot an older grub-setup or stage runner."""
    from layoutc.lab.system import build  # build imports this module's neighbours, not this one

    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    kernels.run_tool(["cp", "-a", "--reflink=auto", str(src), str(dest)], timeout=900)
    build.write_files(dest)
    return dest
