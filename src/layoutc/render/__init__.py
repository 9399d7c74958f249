"""Rendering: a Layout becomes the compile outputs (text through jinja2, JSON serialized).

``OUTPUTS`` is the declarative table of what a compile writes: relpath, role, template (or the
JSON serializer), mode, and when it applies; the device files have their table in ``render.device``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import jinja2

from layoutc.kernel import cmdline as kcmd
from layoutc.model.layout import Layout
from layoutc.model.units import format_addr, format_human, format_size
from layoutc.render.comment import comment
from layoutc.render.document import layout_json
from layoutc.render.views import View, view
from layoutc.resources import data_dir

__all__ = ["Artifact", "OUTPUTS", "render_all", "environment"]


@dataclass(frozen=True, slots=True)
class Artifact:
    relpath: str
    content: bytes
    role: str
    mode: int = 0o644


def _always(layout: Layout) -> bool:
    return True


def _has_recovery_boot(layout: Layout) -> bool:
    return layout.recovery_boot is not None


def _has_recovery_cmdline(layout: Layout) -> bool:
    return bool(layout.cmdline.recovery)


@dataclass(frozen=True, slots=True)
class Output:
    """One row of the outputs table. ``template`` None means the JSON document."""

    relpath: str
    role: str
    template: str | None
    mode: int = 0o644
    when: Callable[[Layout], bool] = _always
    stage: str = ""


OUTPUTS: tuple[Output, ...] = (
    Output("layout.json", "layout", None),
    Output("layout.txt", "layout-text", "layout.txt.j2"),
    Output("cmdline/production.txt", "cmdline-production", "cmdline.txt.j2", stage="production"),
    Output("cmdline/crash.txt", "cmdline-crash", "cmdline.txt.j2", stage="crash"),
    Output(
        "cmdline/recovery.txt",
        "cmdline-recovery",
        "cmdline.txt.j2",
        stage="recovery",
        when=_has_recovery_cmdline,
    ),
    Output("grub/default.d/layoutc.cfg", "grub-snippet", "grub-default.cfg.j2"),
    Output("kernel-install/cmdline", "kernel-install-cmdline", "kernel-install-cmdline.j2"),
    Output("mkosi/layoutc.conf", "mkosi-conf", "mkosi.conf.j2"),
    Output(
        "grub/grub.d/45_layoutc_recovery",
        "grub-recovery-entry",
        "grub-recovery.j2",
        mode=0o755,
        when=_has_recovery_boot,
    ),
    Output("bls/recovery.conf", "bls-recovery-entry", "bls-recovery.conf.j2", when=_has_recovery_boot),
)


def _mkosi_escape(text: str) -> str:
    """mkosi expands %-specifiers in settings; a literal % (movablecore=25%) is written %%."""
    return text.replace("%", "%%")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(
        {
            "shquote": kcmd.shquote,
            "grub_default": kcmd.grub_default_value,
            "grub_script": kcmd.grub_script_args,
            "comment": comment,
            "grub_word": kcmd.grub_quote,
            "mkosi": _mkosi_escape,
            "hex": format_addr,
            "size": format_size,
            "human": format_human,
        }
    )
    return env


def _render(out: Output, v: View) -> bytes:
    if out.template is None:
        return layout_json(v.layout)
    text = environment().get_template(out.template).render(v=v, l=v.layout, stage=out.stage)
    return text.encode()


def render_all(layout: Layout) -> tuple[Artifact, ...]:
    """Every output of one layout, in table order (the paths are relative to the board's directory)."""
    v = view(layout)
    relpaths = (
        {"bls/recovery.conf": f"bls/{layout.recovery_boot.bls_id}.conf"} if layout.recovery_boot else {}
    )
    return tuple(
        Artifact(relpaths.get(o.relpath, o.relpath), _render(o, v), o.role, o.mode)
        for o in OUTPUTS
        if o.when(layout)
    )
