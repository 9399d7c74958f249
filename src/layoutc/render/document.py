"""``layout.json`` as an artifact: ``model.layout_json`` writes it (and reads it back), render only calls it.

Serialized, never templated; the one writer keeps the file byte-identical for every reader.
"""

from __future__ import annotations

from layoutc.model.layout import Layout
from layoutc.model.layout_json import write


def layout_json(layout: Layout) -> bytes:
    """The bytes of ``layout.json`` for ``layout``."""
    return write(layout)
