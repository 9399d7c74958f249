"""The layout a lab run boots: ``<dir>/layout.json`` read into the typed ``Layout`` by ``model.layout_json``.

The lab reads no field of its own: whatever ``layoutc compile`` wrote is validated against the layout
schema, and a file that is not a v1 layout is ``LabError("invalid-layout", …)`` naming the JSON path,
the value and the rule.
"""

from __future__ import annotations

from pathlib import Path

from layoutc.lab.errors import LabError
from layoutc.model import layout_json
from layoutc.model.layout import Layout

LAYOUT_FILE = layout_json.LAYOUT_FILE


def load_layout(layout_dir: Path) -> Layout:
    """Read ``layout_dir/layout.json``."""
    try:
        return layout_json.load(layout_dir / LAYOUT_FILE)
    except layout_json.LayoutJsonError as exc:
        raise LabError("invalid-layout", str(exc)) from None


def parse_layout(data: object, source: str = LAYOUT_FILE) -> Layout:
    """The typed layout of decoded layout.json ``data``."""
    try:
        return layout_json.read(data, source)
    except layout_json.LayoutJsonError as exc:
        raise LabError("invalid-layout", str(exc)) from None
