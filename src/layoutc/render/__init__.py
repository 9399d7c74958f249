"""Rendering: a Layout becomes the compile outputs (text through jinja2, JSON serialized).

``OUTPUTS`` is the one declarative table of what a compile writes, board files and device files alike:
relpath, role, template (or a serializer), mode, the part it belongs to and when it applies. Every
template renders in the one environment of ``render.environment``. ``render_all(layout)`` renders the
board part; ``render.device.device_artifacts(profile, layout)`` the device part.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from dataclasses import dataclass

from layoutc.model.layout import Layout
from layoutc.model.profile import Profile
from layoutc.render import distro
from layoutc.render.device_filter import filter_spec, serialize
from layoutc.render.device_view import DeviceView
from layoutc.render.document import layout_json
from layoutc.render.environment import environment
from layoutc.render.initramfs_view import InitramfsView, compression_of
from layoutc.render.initramfs_view import build_view as initramfs_view
from layoutc.render.views import BoardView, view

__all__ = ["Artifact", "OUTPUTS", "Output", "Part", "RenderInput", "environment", "render_all", "render_part"]


@dataclass(frozen=True, slots=True)
class Artifact:
    relpath: str
    content: bytes
    role: str
    mode: int = 0o644


class Part(enum.Enum):
    """Which files a row belongs to: the board's boot files, or what runs on the device."""

    BOARD = "board"
    DEVICE = "device"


@dataclass(frozen=True, slots=True)
class RenderInput:
    """What the rows of one part read: the layout, that part's view and, for the device, the profile."""

    layout: Layout
    view: BoardView | DeviceView
    profile: Profile | None = None


def _always(_: RenderInput) -> bool:
    return True


def _has_recovery_boot(given: RenderInput) -> bool:
    return given.layout.recovery_boot is not None


def _has_recovery_cmdline(given: RenderInput) -> bool:
    return bool(given.layout.cmdline.recovery)


def _production_arm(given: RenderInput) -> bool:
    return isinstance(given.view, DeviceView) and "production" in given.view.modes


def _device_tree_edit(given: RenderInput) -> bool:
    return isinstance(given.view, DeviceView) and given.view.dt is not None


def _dt_edit_document(given: RenderInput) -> bytes:
    assert isinstance(given.view, DeviceView) and given.view.dt is not None, "arm64 window boards only"
    return (json.dumps(given.view.dt.edit.to_json(), indent=2, sort_keys=True) + "\n").encode()


def _layout_document(given: RenderInput) -> bytes:
    return layout_json(given.layout)


def _filter_document(given: RenderInput) -> bytes:
    assert given.profile is not None, "device rows are rendered with their profile"
    return serialize(filter_spec(given.profile, given.layout))


@dataclass(frozen=True, slots=True)
class Output:
    """One row of the outputs table. ``template`` None means ``serializer`` writes the bytes."""

    relpath: str
    role: str
    template: str | None
    mode: int = 0o644
    when: Callable[[RenderInput], bool] = _always
    stage: str = ""
    part: Part = Part.BOARD
    serializer: Callable[[RenderInput], bytes] | None = None
    view: Callable[[RenderInput], BoardView | DeviceView | InitramfsView] | None = None  # None: the part's view


def _device(template: str, relpath: str, role: str, mode: int = 0o644,
            when: Callable[[RenderInput], bool] = _always) -> Output:
    return Output(relpath, role, f"device/{template}", mode, when, part=Part.DEVICE)


def _initramfs_view(given: RenderInput) -> InitramfsView:
    assert given.profile is not None, "device rows are rendered with their profile"
    return initramfs_view(given.profile, given.layout, compression_of(_filter_document(given)))


def _initramfs(template: str, relpath: str, role: str, mode: int = 0o644) -> Output:
    """A file of the distribution's crash initramfs integration (docs/initramfs.md)."""
    return Output(f"device/initramfs/{relpath}", role, f"initramfs/{template}", mode, part=Part.DEVICE,
                  view=_initramfs_view)


OUTPUTS: tuple[Output, ...] = (
    Output("layout.json", "layout", None, serializer=_layout_document),
    Output("layout.txt", "layout-text", "layout.txt.j2"),
    Output("cmdline/production.txt", "cmdline-production", "cmdline.txt.j2", stage="production"),
    Output("cmdline/crash.txt", "cmdline-crash", "cmdline.txt.j2", stage="crash"),
    Output("cmdline/recovery.txt", "cmdline-recovery", "cmdline.txt.j2", stage="recovery",
           when=_has_recovery_cmdline),
    Output("grub/default.d/layoutc.cfg", "grub-snippet", "grub-default.cfg.j2"),
    Output("kernel-install/cmdline", "kernel-install-cmdline", "kernel-install-cmdline.j2"),
    Output("mkosi/layoutc.conf", "mkosi-conf", "mkosi.conf.j2"),
    Output("grub/grub.d/45_layoutc_recovery", "grub-recovery-entry", "grub-recovery.j2", mode=0o755,
           when=_has_recovery_boot),
    Output("bls/recovery.conf", "bls-recovery-entry", "bls-recovery.conf.j2", when=_has_recovery_boot),
    Output("kernel-install/91-layoutc-recovery.install", "kernel-install-plugin", "kernel-install-recovery.install.j2",
           mode=0o755, when=_has_recovery_boot),
    _device("arm.sh.j2", "device/arm.sh", "arm-script", 0o755),
    _device("layoutc-arm.service.j2", "device/systemd/layoutc-arm.service", "arm-unit", when=_production_arm),
    _device("layoutc-rearm.service.j2", "device/systemd/layoutc-rearm.service", "rearm-unit"),
    _device("90-layoutc-rearm.rules.j2", "device/udev/90-layoutc-rearm.rules", "rearm-udev-rule"),
    _device("capture.sh.j2", "device/capture.sh", "capture-script", 0o755),
    _device("layoutc-capture.service.j2", "device/systemd/layoutc-capture.service", "capture-unit"),
    _device("capture-init.sh.j2", "device/capture-init.sh", "capture-init", 0o755),
    _device("recover.sh.j2", "device/recover.sh", "recovery-script", 0o755),
    _device("layoutc-recover.service.j2", "device/systemd/layoutc-recover.service", "recovery-unit"),
    Output("device/filter.json", "filter-spec", None, part=Part.DEVICE, serializer=_filter_document),
    Output("device/crash-dt.json", "crash-dt-edit", None, part=Part.DEVICE, when=_device_tree_edit,
           serializer=_dt_edit_document),
    # crash.stack kdump-tools / kdump-utils: the distribution's kdump configuration (docs/distributions.md)
    Output("device/distro/kdump-tools/kdump-tools", "kdump-tools-default", None, part=Part.DEVICE,
           when=distro.kdump_tools, serializer=distro.file("kdump-tools.default.j2")),
    Output("device/distro/kdump-tools/grub.d/kdump-tools.cfg", "kdump-tools-grub", None, part=Part.DEVICE,
           when=distro.kdump_tools, serializer=distro.file("kdump-tools-grub.cfg.j2")),
    Output("device/distro/kdump-utils/kdump.conf", "kdump-utils-conf", None, part=Part.DEVICE,
           when=distro.kdump_utils, serializer=distro.file("kdump.conf.j2")),
    Output("device/distro/kdump-utils/sysconfig-kdump", "kdump-utils-sysconfig", None, part=Part.DEVICE,
           when=distro.kdump_utils, serializer=distro.file("sysconfig-kdump.j2")),
    Output("device/distro/makedumpfile", "makedumpfile-wrapper", None, 0o755, part=Part.DEVICE,
           when=distro.diverted, serializer=distro.file("makedumpfile.sh.j2")),
    Output("device/distro/divert-makedumpfile.sh", "makedumpfile-divert", None, 0o755, part=Part.DEVICE,
           when=distro.divert_recipe, serializer=distro.file("divert-makedumpfile.sh.j2")),
    _initramfs("initramfs-tools-hook.j2", "initramfs-tools/hooks/layoutc", "initramfs-tools-hook", 0o755),
    _initramfs("initramfs-tools-premount.j2", "initramfs-tools/scripts/init-premount/layoutc",
               "initramfs-tools-script", 0o755),
    _initramfs("initramfs-tools.conf.j2", "initramfs-tools/initramfs.conf", "initramfs-tools-conf"),
    _initramfs("dracut-module-setup.sh.j2", "dracut/99layoutc/module-setup.sh", "dracut-module-setup", 0o755),
    _initramfs("dracut-capture.sh.j2", "dracut/99layoutc/layoutc-capture.sh", "dracut-capture-hook", 0o755),
)


def _render(out: Output, given: RenderInput) -> bytes:
    if out.template is None:
        assert out.serializer is not None, f"{out.relpath}: a row without a template has a serializer"
        return out.serializer(given)
    template = environment().get_template(out.template)
    shown = given.view if out.view is None else out.view(given)
    return template.render(v=shown, l=given.layout, stage=out.stage).encode()


def render_part(part: Part, given: RenderInput) -> tuple[Artifact, ...]:
    """The rows of ``part`` that apply, rendered, in table order."""
    return tuple(Artifact(o.relpath, _render(o, given), o.role, o.mode)
                 for o in OUTPUTS if o.part is part and o.when(given))


def render_all(layout: Layout) -> tuple[Artifact, ...]:
    """Every board output of one layout, in table order (the paths are relative to the board's directory)."""
    artifacts = render_part(Part.BOARD, RenderInput(layout, view(layout)))
    if layout.recovery_boot is None:
        return artifacts
    bls = f"bls/{layout.recovery_boot.bls_id}.conf"
    return tuple(Artifact(bls, a.content, a.role, a.mode) if a.relpath == "bls/recovery.conf" else a
                 for a in artifacts)
