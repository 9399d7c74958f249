"""The rules for ``recovery.kernel_glob`` and ``recovery.initrd_glob``: the installed kernels the recovery
boot entries follow.

Both patterns reach three readers as text: the generated ``/etc/grub.d/45_layoutc_recovery`` (sh, which
lists the kernels at ``grub-mkconfig`` time and prints GRUB script), the kernel-install plugin (sh) and
the GRUB menu entries themselves. The rules keep them to what every reader takes literally: an
absolute, normal path whose file name holds the one ``*`` that stands for the kernel version (KVER).
"""

from __future__ import annotations

import re
from collections.abc import Callable

DEFAULT_KERNEL_GLOB = "/boot/vmlinuz-*"
DEFAULT_INITRD_GLOB = "/boot/initrd.img-*"
_ALLOWED = re.compile(r"[A-Za-z0-9._/+@:=,~*-]")
_SAFE_TEXT = "letters, digits, '/', '*' and . _ + @ : = , ~ -"

# error(code, message, rule, hint, value): the caller knows the key's file and position
Report = Callable[[str, str, str, str, str], None]


def check_glob(key: str, pattern: str, error: Report) -> bool:
    """Every rule for one pattern (``key`` is its dotted name); True when it is usable."""
    bad = next((c for c in pattern if not _ALLOWED.fullmatch(c)), None)
    if bad is not None:
        error("LC515", f"the pattern holds {bad!r}, which the boot entries cannot carry literally",
              f"the pattern is pasted into sh and GRUB script; it may hold only {_SAFE_TEXT}",
              "name the files without quotes, spaces, '$', '\\' or other glob characters", pattern)
        return False
    if not pattern.startswith("/"):
        error("LC513", "the pattern is not an absolute path", "the boot entries name each kernel and initrd by its "
              "absolute path in the installed system", f"start it with '/', e.g. {_example(key)}", pattern)
        return False
    parts = pattern[1:].split("/")
    odd = next((p for p in parts if p in ("", ".", "..")), None)
    if odd is not None:
        shown = "an empty component ('//' or a trailing '/')" if odd == "" else f"the component {odd!r}"
        error("LC517", f"the pattern has {shown}", "the pattern is a normal path: no '.', '..' or empty components",
              f"write the path plainly, e.g. {_example(key)}", pattern)
        return False
    stars = pattern.count("*")
    if stars != 1:
        error("LC514", f"the pattern has {stars} '*'; exactly one stands for the kernel version",
              "the one '*' matches the kernel version (KVER) of each installed kernel",
              f"use one '*', e.g. {_example(key)}", pattern)
        return False
    if "*" in "/".join(parts[:-1]):
        error("LC516", "the pattern has its '*' in a directory name", "the kernels are listed in one directory: the "
              "'*' is in the file name", f"put the '*' in the file name, e.g. {_example(key)}", pattern)
        return False
    return True


def _example(key: str) -> str:
    return DEFAULT_INITRD_GLOB if key.endswith("initrd_glob") else DEFAULT_KERNEL_GLOB
