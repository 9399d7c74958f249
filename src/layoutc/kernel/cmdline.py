"""Command-line assembly, limits and escaping (kernel.md §3.2, §5.2, §7 items 1, 7, 22-24).

Per-stage rules:

* production (§7.22): movablecore=/kernelcore= and crashkernel=, never memmap=! for a movable
  window; nokaslr and memory_hotplug.memmap_on_memory=0 where they apply.
* crash (§7.23): the arm script strips crashkernel=, movablecore=, kernelcore=, cma=,
  hugetlb_cma= and hugepages from what it reuses and appends these parameters: memmap=SIZE!BASE
  identical to the production window, "irqpoll nr_cpus=N reset_devices" (LNX:Documentation/
  admin-guide/kdump/kdump.rst, x86 "1 irqpoll nr_cpus=1 reset_devices"). Never memmap=exactmap.
* recovery (§7.24): the same memmap=SIZE!BASE so the window survives; movablecore= dropped.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..units import format_addr, format_size

# LNX:arch/x86/include/uapi/asm/setup.h COMMAND_LINE_SIZE 2048 on x86.
COMMAND_LINE_SIZE = 2048
# kexec_file_load prepends "elfcorehdr=0x<addr> " (x86 setup_cmdline) and maybe "dmcryptkeys=0x… ".
KEXEC_PREFIX_RESERVE = 64
CRASH_BASICS = ("irqpoll", "reset_devices")
STRIPPED_FOR_CRASH = ("crashkernel", "movablecore", "kernelcore", "cma", "hugetlb_cma", "hugepages", "memmap")


def memmap_pmem(base: int, size: int) -> str:
    """``memmap=SIZE!BASE`` in canonical spelling (binary-suffixed size, 0x hex base; §7 item 1)."""
    return f"memmap={format_size(size)}!{format_addr(base)}"


def join(params: Iterable[str]) -> str:
    return " ".join(p for p in params if p)


def param_names(cmdline: str) -> tuple[str, ...]:
    return tuple(word.split("=", 1)[0] for word in cmdline.split())


def value_of(cmdline: str, name: str) -> str | None:
    """The last value of ``name=`` on a cmdline (the kernel's early_param sees every one; the last wins)."""
    found = None
    for word in cmdline.split():
        if word.startswith(name + "="):
            found = word[len(name) + 1 :]
    return found


def grub_default_escape(text: str) -> str:
    """A value for a double-quoted GRUB_CMDLINE_LINUX in /etc/default/grub(.d).

    The file is sourced by sh (grub-mkconfig), then copied into grub.cfg where GRUB's own
    parser eats "$" (kernel-parameters.txt: "Grub2 ... '$' and the following number will be
    eaten"): "$" must reach grub.cfg as "\\$", i.e. be written "\\\\\\$" here (kernel.md §3.2).
    "!" needs nothing: the file is not read by an interactive shell.
    """
    out = []
    for ch in text:
        if ch == "$":
            out.append("\\\\\\$")
        elif ch in '"`\\':
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def grub_script_escape(text: str) -> str:
    """A cmdline on a ``linux`` line of grub.cfg: "$" becomes "\\$"; "!" is literal in GRUB."""
    return text.replace("\\", "\\\\").replace("$", "\\$")


def shquote(text: str) -> str:
    """POSIX single quotes; "!" and "$" are then literal in any shell (§7 item 7)."""
    return "'" + text.replace("'", "'\\''") + "'"
