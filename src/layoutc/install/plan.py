"""Where each compiled artifact of a board goes in the installed system: the ``InstallPlan``.

One table, ``DESTINATIONS``, maps an artifact's role to its installed path and mode; a role mapped to
None is compiled for another consumer (mkosi on the build host, the static BLS entry whose per-kernel
copies the kernel-install plugin writes) and is listed in the plan as skipped. A role the table lacks
is a bug, caught by the test that walks ``render.OUTPUTS``.

Units go to ``/etc/systemd/system``: layoutc is not the distribution's package manager, and
``/usr/lib/systemd/system`` belongs to packages (systemd.unit(5): "units installed by the system
administrator" live in /etc). Device scripts, ``layout.json`` (which ``layoutc status`` reads) and
the cmdlines go to the board's ``install_dir`` (``/usr/lib/layoutc``), the filter spec to
``/etc/layoutc/filter.json`` (where the scripts read it) and the manifest to ``MANIFEST``.
"""

from __future__ import annotations

from collections.abc import Iterable

from layoutc.install.crash_owner import DISTRIBUTION_ROLES, crash_owner_entries
from layoutc.install.units import enablement, preset_text
from layoutc.model.install_plan import EntryKind, InstallEntry, InstallPlan
from layoutc.render import Artifact
from layoutc.render.comment import comment
from layoutc.render.device_view import CONFIG_DIR, DEVICE_PYZ, DUMP_PYZ, INSTALL_DIR

UNIT_DIR = "/etc/systemd/system"
PRESET = "/etc/systemd/system-preset/90-layoutc.preset"
MANIFEST = "/var/lib/layoutc/manifest.json"
LAYOUT = f"{INSTALL_DIR}/layout.json"
INITRAMFS_TOOLS = f"{INSTALL_DIR}/initramfs-tools"  # render.initramfs_view.TOOLS_CONFDIR
DRACUT_MODULE = "/usr/lib/dracut/modules.d/99layoutc"

_BASENAME = "{name}"  # the artifact's file name
DESTINATIONS: dict[str, str | None] = {
    "layout": LAYOUT,
    "layout-text": f"{INSTALL_DIR}/layout.txt",
    "cmdline-production": f"{INSTALL_DIR}/cmdline/production.txt",
    "cmdline-crash": f"{INSTALL_DIR}/cmdline/crash.txt",
    "cmdline-recovery": f"{INSTALL_DIR}/cmdline/recovery.txt",
    "grub-snippet": "/etc/default/grub.d/layoutc.cfg",
    "grub-recovery-entry": "/etc/grub.d/45_layoutc_recovery",
    "kernel-install-cmdline": "/etc/kernel/cmdline",
    "kernel-install-plugin": f"/etc/kernel/install.d/{_BASENAME}",
    "mkosi-conf": None,
    "bls-recovery-entry": None,
    "arm-script": f"{INSTALL_DIR}/arm.sh",
    "capture-script": f"{INSTALL_DIR}/capture.sh",
    "capture-init": f"{INSTALL_DIR}/capture-init.sh",
    "recovery-script": f"{INSTALL_DIR}/recover.sh",
    "arm-unit": f"{UNIT_DIR}/{_BASENAME}",
    "rearm-unit": f"{UNIT_DIR}/{_BASENAME}",
    "capture-unit": f"{UNIT_DIR}/{_BASENAME}",
    "recovery-unit": f"{UNIT_DIR}/{_BASENAME}",
    "rearm-udev-rule": f"/etc/udev/rules.d/{_BASENAME}",
    "filter-spec": f"{CONFIG_DIR}/filter.json",
    "crash-dt-edit": f"{CONFIG_DIR}/crash-dt.json",  # arm64: where arm.sh reads the crash kernel's tree edit
    # crash.stack kdump-tools / kdump-utils (docs/distributions.md): the distribution's own files, replaced
    "kdump-tools-default": "/etc/default/kdump-tools",
    "kdump-tools-grub": "/etc/default/grub.d/kdump-tools.cfg",
    "kdump-utils-conf": "/etc/kdump.conf",
    "kdump-utils-sysconfig": "/etc/sysconfig/kdump",
    "makedumpfile-wrapper": f"{INSTALL_DIR}/makedumpfile",
    "makedumpfile-divert": f"{INSTALL_DIR}/divert-makedumpfile.sh",
    # the crash initramfs builders (docs/initramfs.md): a conf dir of its own for mkinitramfs -d, never
    # /etc/initramfs-tools (the production image); dracut's module runs only when -m names it
    "initramfs-tools-hook": f"{INITRAMFS_TOOLS}/hooks/layoutc",
    "initramfs-tools-script": f"{INITRAMFS_TOOLS}/scripts/init-premount/layoutc",
    "initramfs-tools-conf": f"{INITRAMFS_TOOLS}/initramfs.conf",
    "dracut-module-setup": f"{DRACUT_MODULE}/module-setup.sh",
    "dracut-capture-hook": f"{DRACUT_MODULE}/layoutc-capture.sh",
}
SKIPPED_BECAUSE = {
    "mkosi-conf": "a build-host file: drop it into the image's mkosi.conf.d/",
    "bls-recovery-entry": "the kernel-install plugin writes one entry per installed kernel",
}
# with a distribution stack (crash.stack kdump-tools / kdump-utils) its own service arms and saves: layoutc's
# units and the rearm rule are not laid, or two stacks would each load a crash kernel (arm.sh, rearm on every
# memory event) over the other's
OWN_STACK_ROLES = frozenset({"arm-unit", "rearm-unit", "capture-unit", "recovery-unit", "rearm-udev-rule"})
OWN_STACK_SKIPPED = "crash.stack names the distribution's kdump service, which arms and saves (docs/distributions.md)"


class UnplannedArtifact(Exception):
    """An artifact role ``DESTINATIONS`` does not name (a new output row without an install rule)."""


def destination(artifact: Artifact) -> str | None:
    """The installed path of ``artifact``, or None when it is not installed."""
    if artifact.role not in DESTINATIONS:
        raise UnplannedArtifact(f"no install destination for role {artifact.role!r} ({artifact.relpath})")
    where = DESTINATIONS[artifact.role]
    return None if where is None else where.replace(_BASENAME, artifact.relpath.rsplit("/", 1)[-1])


def install_plan(board: str, profile: str, version: str, artifacts: Iterable[Artifact], *,
                 preset: bool = False, dumper: bytes = b"", device_tools: bytes = b"") -> InstallPlan:
    """The plan of one board: every artifact at its installed path, and its units enabled.

    ``preset``: write a preset file that enables the units instead of the enablement links.
    ``dumper``: the crash dumper zipapp (``layoutc.dump.zipapp.CRASH``), laid at ``DUMP_PYZ`` where capture.sh
    runs it and the initramfs builders copy it from; ``device_tools``: the running system's zipapp
    (``zipapp.DEVICE``: the device tree tool arm.sh runs, ``layoutc status``), laid at ``DEVICE_PYZ``.
    Empty: not laid.
    """
    entries: list[InstallEntry] = []
    if dumper:
        entries.append(InstallEntry(DUMP_PYZ, EntryKind.FILE, "dumper", content=dumper, mode=0o755))
    if device_tools:
        entries.append(InstallEntry(DEVICE_PYZ, EntryKind.FILE, "device-tools", content=device_tools, mode=0o755))
    skipped: list[tuple[str, str]] = []
    artifacts = tuple(artifacts)
    roles = {a.role for a in artifacts}
    distribution = bool(DISTRIBUTION_ROLES & roles)
    for artifact in artifacts:
        where = destination(artifact)
        if where is None or (distribution and artifact.role in OWN_STACK_ROLES):
            skipped.append((artifact.relpath, SKIPPED_BECAUSE.get(artifact.role, OWN_STACK_SKIPPED)))
            continue
        entries.append(InstallEntry(where, EntryKind.FILE, artifact.role, artifact.relpath, artifact.content,
                                    artifact.mode))
    entries.extend(_enablement(entries, board, preset))
    entries.extend(crash_owner_entries(board, roles))  # the layout's crashkernel= wins (crash_owner.py)
    ordered = tuple(sorted(entries, key=lambda e: e.path))
    paths = [e.path for e in ordered]
    assert len(set(paths)) == len(paths), f"two artifacts install to one path: {paths}"
    return InstallPlan(board, profile, version, ordered, MANIFEST, tuple(skipped))


def _enablement(files: list[InstallEntry], board: str, preset: bool) -> list[InstallEntry]:
    units = [e for e in files if e.path.startswith(f"{UNIT_DIR}/") and e.path.count("/") == 4]
    made = [enablement(u.path, u.content.decode()) for u in units]
    enabled = tuple(m.unit for m in made if m.links)
    if preset:
        if not enabled:
            return []
        header = comment(f"generated by layoutc install for board {board}; do not edit")
        return [InstallEntry(PRESET, EntryKind.FILE, "unit-preset", content=preset_text(enabled, header).encode())]
    return [InstallEntry(path, EntryKind.LINK, "unit-enablement", target=target)
            for m in made for path, target in m.links]
