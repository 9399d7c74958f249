"""The crashed kernel's ``init_uts_ns.name`` (struct new_utsname), read through its page tables.

makedumpfile fills the kdump header's utsname from memory the same way; VMCOREINFO only carries
the release.  Used only when all five fields look sane (libkdumpfile's ``uts_looks_sane``).
"""

from __future__ import annotations

from layoutc.dump.read.pagetable import PageTable
from layoutc.dump.read.vmcoreinfo import VmcoreInfo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from layoutc.dump.read.pagetable import ReadPhys

FIELD = 65  # __NEW_UTS_LEN + 1
FIELDS = 6  # sysname, nodename, release, version, machine, domainname


def read_utsname(raw_info: dict[str, str], read_phys: ReadPhys) -> tuple[bytes, ...] | None:
    """The six utsname fields, or None when VMCOREINFO or memory cannot provide sane ones."""
    info = VmcoreInfo(raw_info)
    base = info.symbol("init_uts_ns")
    table = PageTable.from_vmcoreinfo(info, read_phys)
    if base is None or table is None:
        return None
    offset = info.offset("uts_namespace.name")
    # Without OFFSET(uts_namespace.name) (kernels before 4.x had a kref first), look for the
    # UTS_SYSNAME signature in the first words, as libkdumpfile does.
    candidates = [offset] if offset is not None else [0, 4, 8]
    raw = table.read(base, FIELD * FIELDS + 8)
    if raw is None:
        return None
    for start in candidates:
        fields = tuple(raw[start + i * FIELD : start + (i + 1) * FIELD].split(b"\0", 1)[0] for i in range(FIELDS))
        if fields[0] == b"Linux" and all(f and all(32 <= c < 127 for c in f) for f in fields[:5]):
            return fields
    return None
