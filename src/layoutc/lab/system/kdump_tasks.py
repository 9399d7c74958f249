"""drgn walks a dump's task list without the kernel's debug package: symbols from the kernel's own kallsyms (its
addresses are in the dump's VMCOREINFO since Linux 6.0; ``drgn.helpers.linux.kallsyms``) and the offsets of
``task_struct.tasks``, ``.pid`` and ``.comm`` from the kernel's own BTF (``__start_BTF`` … ``__stop_BTF``, read
out of the dump), then ``init_task.tasks`` followed through the dumped memory.

BTF layout: ``include/uapi/linux/btf.h`` (header, ``struct btf_type`` with its ``info`` word: vlen in bits 0-15,
kind in bits 24-28, kind_flag bit 31; each kind's trailing data; ``struct btf_member`` name_off, type, offset in
bits, bitfield size in the top 8 bits when kind_flag). Read at v6.1.
"""

from __future__ import annotations

import struct
from typing import Any

# trailing bytes after the 12-byte btf_type, per kind: fixed, and per vlen entry
_FIXED = {1: 4, 3: 12, 14: 4, 17: 4}
_PER_VLEN = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}
KIND_STRUCT = 4
MAX_TASKS = 100_000


def struct_members(btf: bytes, name: str) -> dict[str, int]:
    """The byte offsets of the members of struct ``name`` in raw BTF (the first struct of that name)."""
    magic, _ver, _flags, hdr_len, type_off, type_len, str_off, _str_len = struct.unpack_from("<HBBIIIII", btf)
    if magic != 0xEB9F:
        raise ValueError(f"not BTF (magic {magic:#x})")
    types, strings = hdr_len + type_off, hdr_len + str_off

    def text(off: int) -> str:
        return btf[strings + off : btf.index(b"\0", strings + off)].decode()

    at, end = types, types + type_len
    while at < end:
        name_off, info, _size = struct.unpack_from("<III", btf, at)
        kind, vlen, kind_flag = (info >> 24) & 0x1F, info & 0xFFFF, info >> 31
        body = at + 12
        if kind == KIND_STRUCT and text(name_off) == name:
            out = {}
            for i in range(vlen):
                m_name, _m_type, m_off = struct.unpack_from("<III", btf, body + 12 * i)
                bits = m_off & 0xFFFFFF if kind_flag else m_off
                if m_name:
                    out[text(m_name)] = bits // 8
            return out
        at = body + _FIXED.get(kind, 0) + _PER_VLEN.get(kind, 0) * vlen
    raise KeyError(f"no struct {name} in BTF")


def walk_tasks(prog: Any) -> list[tuple[int, str]]:
    """(pid, comm) of every task on ``init_task.tasks``, ``prog`` a drgn Program over a kernel dump."""
    from drgn.helpers.linux.kallsyms import load_vmlinux_kallsyms  # type: ignore[import-not-found,unused-ignore]

    prog.register_symbol_finder("kallsyms", load_vmlinux_kallsyms(prog), enable_index=0)
    start, stop = prog.symbol("__start_BTF").address, prog.symbol("__stop_BTF").address
    members = struct_members(bytes(prog.read(start, stop - start)), "task_struct")
    tasks, pid, comm = members["tasks"], members["pid"], members["comm"]
    init = prog.symbol("init_task").address
    out: list[tuple[int, str]] = []
    node = prog.read_u64(init + tasks)
    while node != init + tasks and len(out) < MAX_TASKS:
        task = node - tasks
        name = bytes(prog.read(task + comm, 16)).split(b"\0")[0].decode(errors="replace")
        out.append((int.from_bytes(bytes(prog.read(task + pid, 4)), "little", signed=True), name))
        node = prog.read_u64(node)
    return out
