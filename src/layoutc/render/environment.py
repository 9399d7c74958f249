"""The one jinja2 environment of every template (board files and ``templates/device/``) and its filters.

Templates never compute: every shell value goes through ``shquote`` (or ``shwords``/``shdump``), every
GRUB word through the GRUB quoting filters, every name in a comment through ``comment``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache

import jinja2

from layoutc.kernel import cmdline as kcmd
from layoutc.model.units import format_addr, format_human, format_size
from layoutc.render.comment import comment
from layoutc.resources import data_dir

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


def mkosi_escape(text: str) -> str:
    """mkosi expands %-specifiers in settings; a literal % (movablecore=25%) is written %%."""
    return text.replace("%", "%%")


FILTERS: Mapping[str, Callable[..., str]] = {
    "shquote": shquote,
    "shwords": shwords,
    "shdump": shdump,
    "comment": comment,
    "grub_default": kcmd.grub_default_value,
    "grub_script": kcmd.grub_script_args,
    "grub_word": kcmd.grub_quote,
    "mkosi": mkosi_escape,
    "hex": format_addr,
    "size": format_size,
    "human": format_human,
}


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The jinja2 environment over ``templates/`` (built once; StrictUndefined, no autoescape, named filters)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(FILTERS)
    return env
