"""modules.dep read, the dependency closure and the shipped index (initramfs/kmod.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from layoutc.initramfs import kmod

DEP = """kernel/drivers/nvdimm/libnvdimm.ko.xz:
kernel/drivers/nvdimm/nd_btt.ko.xz: kernel/drivers/nvdimm/libnvdimm.ko.xz
kernel/drivers/nvdimm/nd_pmem.ko.xz: kernel/drivers/nvdimm/nd_btt.ko.xz kernel/drivers/nvdimm/libnvdimm.ko.xz
kernel/drivers/nvdimm/nd_e820.ko.xz: kernel/drivers/nvdimm/libnvdimm.ko.xz
kernel/fs/efivarfs/efivarfs.ko.xz:
"""


def test_closure_is_dependency_first_and_reports_absent_names() -> None:
    order, absent = kmod.closure(kmod.parse_modules_dep(DEP), ("nd_pmem", "nd-e820", "ext4"))
    assert [m.name for m in order] == ["libnvdimm", "nd_btt", "nd_pmem", "nd_e820"]
    assert absent == ("ext4",)


def test_shipped_index_names_decompressed_files() -> None:
    order, _ = kmod.closure(kmod.parse_modules_dep(DEP), ("nd_pmem",))
    assert kmod.shipped_modules_dep(order) == (
        "kernel/drivers/nvdimm/libnvdimm.ko:\n"
        "kernel/drivers/nvdimm/nd_btt.ko: kernel/drivers/nvdimm/libnvdimm.ko\n"
        "kernel/drivers/nvdimm/nd_pmem.ko: kernel/drivers/nvdimm/nd_btt.ko kernel/drivers/nvdimm/libnvdimm.ko\n"
    )


def test_builtin_names() -> None:
    assert kmod.builtin_names("kernel/fs/ext4/ext4.ko\nkernel/lib/crc-t10dif.ko\n") == {"ext4", "crc_t10dif"}


@given(st.dictionaries(st.sampled_from("abcdefgh"), st.lists(st.sampled_from("abcdefgh"), max_size=4), min_size=1),
       st.lists(st.sampled_from("abcdefghz"), max_size=5))
def test_every_dependency_precedes_its_user(graph: dict[str, list[str]], wanted: list[str]) -> None:
    # depmod refuses cycles: a module depends only on modules before it in the alphabet here
    text = "".join(f"m/{n}.ko: {' '.join(f'm/{d}.ko' for d in deps if d in graph and d < n)}\n"
                   for n, deps in graph.items())
    table = kmod.parse_modules_dep(text)
    order, absent = kmod.closure(table, wanted)
    names = [m.name for m in order]
    assert len(names) == len(set(names))
    assert set(absent) == {w for w in wanted if w not in graph}
    for module in order:
        for dep in module.deps:
            assert dep in names
            assert names.index(dep) < names.index(module.name)
