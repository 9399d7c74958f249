"""Command-line assembly, limits and escaping (docs/reference/kernel-rules.md §3.2, §5.2, §7 items 1, 7, 22-24).

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

import re
from collections.abc import Iterable

from layoutc.kernel.params import Param, canonical_name, parse_args
from layoutc.model.units import format_addr, format_size

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
    """The parameter names of a cmdline as the kernel splits it (kernel/params.py)."""
    return tuple(p.name for p in parse_args(cmdline).params)


def value_of(cmdline: str, name: str) -> str | None:
    """The last value of ``name=`` on a cmdline (the kernel's early_param sees every one; the last wins)."""
    found = None
    for param in parse_args(cmdline).params:
        if param.key == canonical_name(name) and param.value is not None:
            found = param.value
    return found


def kernel_word(param: Param) -> str:
    """One parameter as the kernel must read it back: ``name[=value]``, the whole word in double
    quotes when it holds a space (what GRUB's linux command passes, grub-core/lib/cmdline.c)."""
    word = param.name if param.value is None else f"{param.name}={param.value}"
    return f'"{word}"' if " " in word else word


def kernel_text(cmdline: str) -> str:
    """A cmdline re-spelled word by word: single spaces, no control characters, same parameters.

    Only for cmdlines the front end accepted (no "--", quotes only around a whole word or value)."""
    return " ".join(kernel_word(p) for p in parse_args(cmdline).params)


# Characters a GRUB script word may hold unquoted (grub-core/script/yylex.l CHAR is wider; this is the
# plain subset); anything else, a leading "!" or "#", and GRUB's reserved words go in single quotes.
_GRUB_PLAIN = re.compile(r"[A-Za-z0-9_.,:/=+@%!-]+")
_GRUB_RESERVED = frozenset({"!", "[[", "]]", "case", "do", "done", "elif", "else", "esac", "fi", "for",
                            "function", "if", "in", "menuentry", "select", "submenu", "then", "time",
                            "until", "while"})


def grub_word(param: Param) -> str:
    """One argument of a grub.cfg ``linux`` line that GRUB hands to the kernel as ``kernel_word``.

    GRUB drops its own quotes, then grub_create_loader_cmdline() wraps an argument holding a space in
    double quotes and puts a backslash before every \\, ' and " (which the kernel would keep): so the
    argument is the bare ``name=value`` and the front end refuses those three characters inside it.
    GRUB single quotes take everything literally, "$", "#", ";", "{" included (yylex.l SQSTR)."""
    return grub_quote(param.name if param.value is None else f"{param.name}={param.value}")


def grub_quote(word: str) -> str:
    """One GRUB script word that GRUB reads back as ``word``: as is when plain, else single-quoted."""
    if _GRUB_PLAIN.fullmatch(word) and not word.startswith("!") and word not in _GRUB_RESERVED:
        return word
    return "'" + word.replace("'", "'\\''") + "'"


def grub_script_args(cmdline: str) -> str:
    """A cmdline as the arguments of a grub.cfg ``linux`` line, one quoted GRUB word per parameter."""
    return " ".join(grub_word(p) for p in parse_args(cmdline).params)


def grub_default_value(cmdline: str) -> str:
    """A cmdline for a double-quoted GRUB_CMDLINE_LINUX in /etc/default/grub(.d).

    Two readers: sh sources the file (grub-mkconfig), so \\, ", $ and ` are backslash-escaped; then
    10_linux pastes the value as is into a grub.cfg ``linux`` line, so the value is GRUB script text:
    ``grub_script_args``. "!" needs nothing: the file is not read by an interactive shell."""
    return re.sub(r'([\\"$`])', r"\\\1", grub_script_args(cmdline))


def shquote(text: str) -> str:
    """POSIX single quotes; "!" and "$" are then literal in any shell (§7 item 7)."""
    return "'" + text.replace("'", "'\\''") + "'"
