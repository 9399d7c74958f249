"""The rows of a distribution kdump stack (``crash.stack``): predicates and renderers for render.OUTPUTS.

Each file renders ``templates/distro/`` with the ``DistroView`` of ``render.distro_view``; the rows apply
only when the profile chose that stack (and, for the wrapper and its recipe, when the stack's
makedumpfile is diverted). docs/distributions.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from layoutc.model.layout import Layout
from layoutc.model.profile import Profile
from layoutc.model.stack import Stack
from layoutc.render.device_filter import filter_spec
from layoutc.render.distro_view import DistroView, build_view
from layoutc.render.environment import environment


class Given(Protocol):
    """What a row reads (render.RenderInput)."""

    @property
    def layout(self) -> Layout: ...

    @property
    def profile(self) -> Profile | None: ...


def view_of(given: Given) -> DistroView:
    assert given.profile is not None, "device rows are rendered with their profile"
    args = filter_spec(given.profile, given.layout)["makedumpfile"]["args"]
    return build_view(given.profile, given.layout, [str(a) for a in args])


def file(template: str) -> Callable[[Given], bytes]:
    """The renderer of ``templates/distro/<template>``."""

    def render(given: Given) -> bytes:
        shown = view_of(given)
        return environment().get_template(f"distro/{template}").render(v=shown, l=given.layout).encode()

    return render


def _stack(given: Given) -> Stack | None:
    return None if given.profile is None else given.profile.stack.stack


def kdump_tools(given: Given) -> bool:
    return _stack(given) is Stack.KDUMP_TOOLS


def kdump_utils(given: Given) -> bool:
    return _stack(given) is Stack.KDUMP_UTILS


def diverted(given: Given) -> bool:
    return given.profile is not None and given.profile.stack.divert


def divert_recipe(given: Given) -> bool:
    """dpkg-divert is Debian's: the recipe goes with kdump-tools (kdump-utils names the wrapper itself)."""
    return diverted(given) and kdump_tools(given)
