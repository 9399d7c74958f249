#!/bin/sh
# Lab setup (run by scripts/bootstrap.sh --all; safe to run again, quick when everything is cached):
#  1. the Debian packages the lab needs on the host (also listed under "# lab" in requirements/apt-test.txt);
#  2. the Debian kernels it boots (bookworm 6.1 and sid 7.x, pinned with a fallback to the newest), fetched
#     with apt-get download into a private apt state and unpacked into the lab cache
#     ($LAYOUTC_LAB_CACHE, default .cache/lab at the repository root). The mirror is the host's own, from its
#     apt sources ($LAYOUTC_DEBIAN_MIRROR and $LAYOUTC_DEBIAN_SECURITY_MIRROR override it; docs/lab.md).
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"

# the crash cycle adds: python3.11-minimal + libpython3.11-stdlib (the interpreter the crash initramfs ships), dash and
# coreutils (the production OS shell and sha256sum recover.sh runs with), e2fsprogs debugfs (reading the disks);
# --grub: grub-pc-bin, grub-common, xorriso (grub-mkrescue's i386-pc ISO, grub-mkconfig's 00_header);
# --efi: ovmf (UEFI firmware, pflash), systemd-boot-efi (systemd-bootx64.efi), mtools (the FAT ESP, no root)
pkgs="qemu-system-x86 busybox-static kexec-tools ndctl daxctl e2fsprogs kmod xz-utils cpio util-linux python3.11-minimal libpython3.11-stdlib dash coreutils grub-pc-bin grub-common xorriso ovmf systemd-boot-efi mtools"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

python=.venv/bin/python
[ -x "$python" ] || python=python3
start=$(date +%s)
PYTHONPATH="$here/src${PYTHONPATH:+:$PYTHONPATH}" "$python" - <<'PY'
import sys

from layoutc.lab.errors import LabError
from layoutc.lab.image.kernels import cache_dir, ensure_kernel

for label in ("6.1", "7"):
    try:
        k = ensure_kernel(label)
    except LabError as exc:
        sys.exit(f"lab: kernel {label}: {exc.code}: {exc.message}")
    pin = "pinned" if k.pinned else "PIN UNAVAILABLE, newest of the series"
    print(f"lab: kernel {label}: {k.release} ({pin}) in {cache_dir()}")
PY
mkdir -p .cache/lab/vmcores .cache/lab/dumps
echo "lab: setup done in $(( $(date +%s) - start )) s"
