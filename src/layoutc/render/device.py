"""The device artifacts: arm script, capture and recovery scripts and units, filter spec.

Entry point: ``device_artifacts(profile, layout)``. ``layout`` is the typed ``Layout`` (the
contract with the solver, the value layout.json holds); the view-model (``device_view``) precomputes every
value, the templates in ``templates/device/`` only loop and branch over it, and every shell
value goes through ``shquote``. ``filter.json`` is serialized, never templated.
"""

from __future__ import annotations

from layoutc.model.layout import Layout
from layoutc.model.profile import Profile
from layoutc.render import Artifact, Part, RenderInput, render_part
from layoutc.render.device_view import build_view


def device_artifacts(profile: Profile, layout: Layout) -> tuple[Artifact, ...]:
    """Every file a device image needs to run this board's strategy, sorted by path.

    ``profile`` is the typed profile the layout was solved from; ``layout`` is its solved ``Layout``.
    The rows are the ``Part.DEVICE`` rows of ``render.OUTPUTS``.
    """
    given = RenderInput(layout, build_view(profile, layout), profile)
    return tuple(sorted(render_part(Part.DEVICE, given), key=lambda a: a.relpath))
