"""The flattened device tree reader and writer, and the crash kernel's tree edit (docs/devicetree.md).

Standard library only, and importing nothing else of layoutc: it ships to devices (which have no dtc)
to build the DTB that ``kexec -p --dtb`` hands the crash kernel on arm64.
"""

from __future__ import annotations

from .edit import Edit, EditError, PmemRegion, apply, edit_from_json, verify
from .fdt import parse, serialize
from .tree import FdtError, Node, Property, Tree

__all__ = [
    "Edit", "EditError", "FdtError", "Node", "PmemRegion", "Property", "Tree",
    "apply", "edit_from_json", "parse", "serialize", "verify",
]  # fmt: skip
