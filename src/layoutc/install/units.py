"""A unit file's ``[Install]`` section, read as ``systemctl enable`` reads it, and the links it makes.

``systemctl --root=DIR enable UNIT`` (systemd src/shared/install.c ``install_info_symlink_wants``)
links ``<unit dir>/<target>.wants/UNIT`` (``RequiredBy=``: ``.requires``) to the unit's path for
each target its ``[Install]`` section names; ``Alias=`` adds a link of that name. A unit without an
``[Install]`` section is static: it is started by something else (a udev rule, another unit).
"""

from __future__ import annotations

from dataclasses import dataclass

_LISTS = {"WantedBy": ".wants", "RequiredBy": ".requires"}


@dataclass(frozen=True, slots=True)
class Enablement:
    """What enabling one unit makes: links (path, target), all absolute paths in the installed system."""

    unit: str
    links: tuple[tuple[str, str], ...]


def install_section(text: str) -> dict[str, tuple[str, ...]]:
    """The ``[Install]`` keys of a unit file and their space-separated values (repeated keys add up)."""
    found: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section != "Install" or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if value:
            found.setdefault(key, []).extend(value.split())
        else:
            found[key] = []  # an empty assignment resets the list
    return {key: tuple(values) for key, values in found.items()}


def enablement(unit_path: str, text: str) -> Enablement:
    """The links ``systemctl enable`` makes for the unit installed at ``unit_path`` (its file's ``text``)."""
    folder, _, name = unit_path.rpartition("/")
    keys = install_section(text)
    links: list[tuple[str, str]] = []
    for key, suffix in _LISTS.items():
        links.extend((f"{folder}/{target}{suffix}/{name}", unit_path) for target in keys.get(key, ()))
    links.extend((f"{folder}/{alias}", unit_path) for alias in keys.get("Alias", ()))
    return Enablement(name, tuple(sorted(set(links))))


def preset_text(units: tuple[str, ...], header: str) -> str:
    """A systemd preset file (``systemd.preset(5)``) that enables ``units``."""
    lines = [f"# {header}", *(f"enable {unit}" for unit in sorted(units))]
    return "\n".join(lines) + "\n"
