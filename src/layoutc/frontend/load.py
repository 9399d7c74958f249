"""The front half of the pipeline: file -> layered document -> shape check -> typed Profile."""

from __future__ import annotations

from pathlib import Path

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.frontend.elaborate import elaborate
from layoutc.frontend.layering import load_layered
from layoutc.frontend.profile_schema import validate_profile
from layoutc.model.profile import Profile


def load_profile(path: Path, display: str, diags: Diagnostics, *, tree: Path | None = None) -> Profile | None:
    """Load, layer, validate and type one profile; None (with diagnostics) when it is invalid.

    ``tree`` is the directory named on the command line when ``path`` was found by scanning it;
    ``extends`` never leaves the profile tree (``layering.profile_tree``).
    """
    loaded = load_layered(path, display, diags, tree=tree)
    if loaded is None:
        return None
    document, layers = loaded
    if not validate_profile(document, diags):
        return None
    return elaborate(document, layers, diags)
