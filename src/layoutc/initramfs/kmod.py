"""Kernel modules for the crash initramfs: ``modules.dep`` read, the dependency closure, the shipped index.

``modules.dep`` (depmod(8)) lists each module file relative to ``/lib/modules/KVER`` with the files it
depends on. A name uses ``_`` for ``-`` (the kernel's own normalisation). Compressed modules
(``.ko.xz``, ``.ko.gz``, ``.ko.zst``) are shipped decompressed as ``.ko``, and the shipped
``modules.dep`` names them so, so busybox ``modprobe`` (which only reads ``modules.dep``) loads them
with ``init_module`` whatever the kernel's CONFIG_MODULE_DECOMPRESS. Pure: text in, values out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

COMPRESSED = (".ko.xz", ".ko.gz", ".ko.zst")


@dataclass(frozen=True, slots=True)
class ModuleFile:
    name: str  # normalised (underscores)
    source: str  # as modules.dep names it, relative to /lib/modules/KVER
    shipped: str  # where it goes in the initramfs, relative to /lib/modules/KVER (decompressed)
    deps: tuple[str, ...]  # names


def module_name(rel: str) -> str:
    return PurePosixPath(rel).name.split(".ko")[0].replace("-", "_")


def shipped_name(rel: str) -> str:
    for suffix in COMPRESSED:
        if rel.endswith(suffix):
            return rel[: -len(suffix)] + ".ko"
    return rel


def parse_modules_dep(text: str) -> dict[str, ModuleFile]:
    """``modules.dep`` as ``name -> ModuleFile``."""
    table: dict[str, ModuleFile] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        target, _, deps = line.partition(":")
        target = target.strip()
        name = module_name(target)
        table[name] = ModuleFile(name, target, shipped_name(target), tuple(module_name(d) for d in deps.split()))
    return table


def closure(table: dict[str, ModuleFile], wanted: Sequence[str]) -> tuple[tuple[ModuleFile, ...], tuple[str, ...]]:
    """Dependency-first load order of ``wanted`` and their dependencies, and the wanted names not in ``table``
    (built in, or missing: the caller decides)."""
    order: list[ModuleFile] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name not in table:
            return
        seen.add(name)
        for dep in table[name].deps:
            visit(dep)
        order.append(table[name])

    absent = []
    for raw in wanted:
        name = raw.replace("-", "_")
        if name not in table:
            absent.append(name)
        visit(name)
    return tuple(order), tuple(absent)


def shipped_modules_dep(order: Sequence[ModuleFile]) -> str:
    """The ``modules.dep`` of the shipped modules: each line names its dependencies, dependencies first
    (depmod's order: the closest dependency first, as ``modprobe`` loads them last to first)."""
    by_name = {m.name: m for m in order}
    lines = []
    for module in order:
        deps = " ".join(by_name[d].shipped for d in module.deps if d in by_name)
        lines.append(f"{module.shipped}: {deps}".rstrip())
    return "".join(line + "\n" for line in lines)


def builtin_names(text: str) -> frozenset[str]:
    """``modules.builtin``: the modules built into the kernel (``kernel/fs/ext4/ext4.ko`` lines)."""
    return frozenset(module_name(line.strip()) for line in text.splitlines() if line.strip())
