"""The rules for the cmdlines a profile writes (kernel.cmdline, crash.cmdline).

The scan reads a cmdline the way the kernel does (kernel/params.py: parse_args over next_arg,
names compared with parameq), so a parameter cannot hide behind a flag, a quote, a dash spelling
or a ``--``. The same split drives the quoting of every output (kernel/cmdline.py), and these
rules refuse exactly what that quoting cannot carry to the kernel intact.
"""

from __future__ import annotations

from collections.abc import Callable

from layoutc.kernel.params import Param, canonical_name, memparse, parse_args
from layoutc.model.units import format_addr

# Parameters layoutc owns; a board cmdline that sets them would fight the solver.
OWNED_PARAMS = ("crashkernel", "movablecore", "kernelcore", "memmap", "nokaslr", "kaslr", "movable_node",
                "memhp_default_state", "memory_hotplug.memmap_on_memory")
_OWNED_KEYS = {canonical_name(name): name for name in OWNED_PARAMS}
GRUB_ESCAPED = "\\'"  # with '"' inside a word: grub_create_loader_cmdline() puts a backslash before them

# error(code, message, rule, hint, value): the caller knows the file and position of the cmdline
Report = Callable[[str, str, str, str, str], None]


def check_cmdline(text: str, where: str, ram_top: int | None, error: Report) -> None:
    """Every rule for one cmdline. ``ram_top``: end of the map's highest RAM (None: no map, or
    ``where`` is crash.cmdline, where mem= is refused outright)."""
    if not _check_text(text, where, error):
        return
    for param in parse_args(text).params:
        if not _check_word(param, where, error):
            continue
        if param.key in _OWNED_KEYS:
            _owned(param, where, error)
        elif param.key == "mem":
            _check_mem(param, where, ram_top, error)


def _check_text(text: str, where: str, error: Report) -> bool:
    """Rules on the whole text: ASCII, closed quotes, no "--". False when the words cannot be trusted."""
    odd = next((i for i, ch in enumerate(text) if not " " <= ch <= "~" and ch not in "\t"), None)
    if odd is not None:
        error("LC213", f"{text[odd]!r} at character {odd + 1} is not printable ASCII",
              "the kernel splits its cmdline on bytes and isspace() counts byte 0xa0 as a space "
              "(lib/ctype.c _ctype[160]), which UTF-8 text holds", "write the parameters in ASCII", text)
        return False
    parsed = parse_args(text)
    if parsed.unclosed_quote:
        at = text.rfind('"') + 1
        error("LC213", f"the double quote at character {at} is never closed",
              "lib/cmdline.c next_arg: an open quote runs to the end of the line, so the parameters layoutc "
              "appends would become part of this value", 'close the quote: name="a b"', text)
        return False
    if parsed.init_args is not None:
        error("LC213", f"'--' at character {parsed.init_offset + 1} ends the kernel's parameters",
              "kernel/params.c parse_args stops at a bare '--' and init/main.c hands the rest to init, so the "
              "parameters layoutc appends after yours would never reach the kernel",
              "remove '--' and the init arguments after it", text)
        return False
    return True


def _check_word(param: Param, where: str, error: Report) -> bool:
    """A word the boot loaders pass unchanged: no \\ or ', double quotes only around a value or word."""
    if '"' in param.name or '"' in (param.value or "") or any(ch in param.raw for ch in GRUB_ESCAPED) \
            or not param.name:
        error("LC213", f"'{param.raw}' at character {param.offset + 1} does not reach the kernel "
              "as written",
              "GRUB's linux command puts a backslash before \\, ' and \" inside a parameter "
              "(grub-core/lib/cmdline.c grub_create_loader_cmdline) and the kernel keeps it (lib/cmdline.c "
              "next_arg has no escapes); double quotes may only enclose a whole value or a whole parameter",
              "drop the character, or quote the whole value: name=\"a b\"", param.raw)
        return False
    return True


def _owned(param: Param, where: str, error: Report) -> None:
    owned = _OWNED_KEYS[param.key]
    alias = "" if param.name == owned else f" (the kernel reads it as '{owned}')"
    error("LC210", f"'{param.name}'{alias} is a layout parameter that layoutc owns",
          "layout parameters come from the solver, per boot stage (docs/reference/kernel-rules.md §7 items 22-24)",
          f"remove '{param.name}' here; pin it under pins: if you must fix its value", param.raw)


def _check_mem(param: Param, where: str, ram_top: int | None, error: Report) -> None:
    """mem=: arch/x86/kernel/e820.c parse_memopt removes all RAM from memparse(value) up; 0 is ignored."""
    rule = ("arch/x86/kernel/e820.c parse_memopt removes all RAM from the mem= limit up (and, with memory "
            "hotplug, refuses to add any there: max_mem_size); the layout places its regions in the map's RAM")
    if where == "crash.cmdline":
        error("LC214", f"'{param.raw}' limits the crash kernel's RAM",
              "the crash kernel runs in the crashkernel= reservation that kexec describes to it; " + rule,
              "remove mem= from crash.cmdline", param.raw)
        return
    parsed = memparse(param.value or "")
    if parsed is None or parsed[0] == 0:
        error("LC214", f"'{param.raw}' is not a size the kernel accepts", rule,
              "write mem=SIZE (e.g. mem=8G) at or above the top of RAM, or remove it", param.raw)
    elif ram_top is not None and parsed[0] < ram_top:
        error("LC214", f"'{param.raw}' drops the RAM from {format_addr(parsed[0])} up; memory.map "
              f"has RAM up to {format_addr(ram_top)}", rule,
              "remove mem=, or list only the RAM below the limit in memory.map", param.raw)
