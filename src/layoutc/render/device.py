"""The device artifacts: arm script, capture and recovery scripts and units, filter spec.

Entry point: ``device_artifacts(profile, layout)``. ``layout`` is the typed ``Layout`` (the
contract with the solver, the value layout.json holds); the view-model (``device_view``) precomputes every
value, the templates in ``templates/device/`` only loop and branch over it, and every shell
value goes through ``shquote``. ``filter.json`` is serialized, never templated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import jinja2

from layoutc.kernel import cmdline as kcmd
from layoutc.model.layout import Layout
from layoutc.model.profile import Profile
from layoutc.render.comment import comment
from layoutc.render.device_filter import filter_spec, serialize
from layoutc.render.device_view import View, build_view
from layoutc.resources import data_dir

if TYPE_CHECKING:  # imported at call time too, so render/__init__ may import this module anywhere
    from layoutc.render import Artifact

shquote = kcmd.shquote  # the project's one shell-quoting function (kernel/cmdline.py)


def shwords(values: Iterable[object]) -> str:
    """A list of words, each through ``shquote``."""
    return " ".join(shquote(str(v)) for v in values)


def shdump(parts: Iterable[str]) -> str:
    """One argument whose ``{dump}`` placeholders (the split points of ``parts``) become ``"$1"``.

    ``$1`` is the dump directory ``upload()`` is called with; no variable is set for it, so an upload
    command without ``{dump}`` leaves no unused assignment behind (shellcheck SC2034).
    """
    words: list[str] = []
    for index, part in enumerate(parts):
        if index:
            words.append('"$1"')
        if part:
            words.append(shquote(part))
    return "".join(words) or "''"


def hexa(value: int) -> str:
    return f"0x{value:x}"


FILTERS: Mapping[str, Callable[..., str]] = {
    "shquote": shquote, "shwords": shwords, "shdump": shdump, "comment": comment, "hex": hexa,
}


@dataclass(frozen=True, slots=True)
class Output:
    """One templated artifact: template, relative path, role, mode, and when it applies."""

    template: str
    relpath: str
    role: str
    mode: int
    applies: Callable[[View], bool]


def _always(_: View) -> bool:
    return True


def _production_arm(view: View) -> bool:
    return "production" in view.modes


OUTPUTS: tuple[Output, ...] = (
    Output("arm.sh.j2", "device/arm.sh", "arm-script", 0o755, _always),
    Output("layoutc-arm.service.j2", "device/systemd/layoutc-arm.service", "arm-unit", 0o644,
           _production_arm),
    Output("layoutc-rearm.service.j2", "device/systemd/layoutc-rearm.service", "rearm-unit", 0o644, _always),
    Output("90-layoutc-rearm.rules.j2", "device/udev/90-layoutc-rearm.rules", "rearm-udev-rule", 0o644,
           _always),
    Output("capture.sh.j2", "device/capture.sh", "capture-script", 0o755, _always),
    Output("layoutc-capture.service.j2", "device/systemd/layoutc-capture.service", "capture-unit", 0o644,
           _always),
    Output("capture-init.sh.j2", "device/capture-init.sh", "capture-init", 0o755, _always),
    Output("recover.sh.j2", "device/recover.sh", "recovery-script", 0o755, _always),
    Output("layoutc-recover.service.j2", "device/systemd/layoutc-recover.service", "recovery-unit", 0o644,
           _always),
)


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The one jinja2 environment of the device templates (built once; StrictUndefined, named filters)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("templates") / "device")),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True, autoescape=False,
    )
    env.filters.update(FILTERS)
    return env


def device_artifacts(profile: Profile, layout: Layout) -> tuple[Artifact, ...]:
    """Every file a device image needs to run this board's strategy, sorted by path.

    ``profile`` is the typed profile the layout was solved from; ``layout`` is its solved ``Layout``.
    """
    from layoutc.render import Artifact

    view = build_view(profile, layout)
    env = environment()
    out = [Artifact(o.relpath, env.get_template(o.template).render(v=view).encode(), o.role, o.mode)
           for o in OUTPUTS if o.applies(view)]
    spec = serialize(filter_spec(profile, layout))
    out.append(Artifact("device/filter.json", spec, "filter-spec", 0o644))
    return tuple(sorted(out, key=lambda a: a.relpath))
