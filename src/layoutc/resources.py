"""Where the bundled data lives: inside the wheel, or at the top of a source checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_dir(name: str) -> Path:
    """The directory ``schemas`` or ``templates``: packaged copy first, then the checkout's."""
    packaged = Path(str(resources.files("layoutc"))) / name
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / name
    return checkout


def schema_path(family: str, version: int) -> Path:
    """Path of a schema file, e.g. ``schema_path("profile", 1)``."""
    folder = data_dir("schemas") / family / f"v{version}"
    for candidate in sorted(folder.glob("*.schema.*")):
        return candidate
    raise FileNotFoundError(f"no schema for {family} v{version} in {folder}")
