"""The install plan: every compiled artifact has an installed path, units are enabled as systemctl would."""

from __future__ import annotations

import pytest

from layoutc.install.plan import DESTINATIONS, MANIFEST, PRESET, UnplannedArtifact, destination
from layoutc.install.units import enablement, install_section
from layoutc.model.install_plan import EntryKind, InstallPlan
from layoutc.render import OUTPUTS, Artifact


@pytest.mark.parametrize("role", sorted({o.role for o in OUTPUTS}))
def test_every_output_role_has_an_install_rule(role: str) -> None:
    assert role in DESTINATIONS


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(UnplannedArtifact, match="no install destination for role 'new-thing'"):
        destination(Artifact("x/y", b"", "new-thing"))


def test_installed_paths_and_modes(qemu_plan: InstallPlan) -> None:
    files = {e.path: e for e in qemu_plan.entries if e.kind is EntryKind.FILE}
    assert files["/usr/lib/layoutc/arm.sh"].mode == 0o755
    assert files["/usr/lib/layoutc/layout.json"].source == "layout.json"
    assert files["/etc/layoutc/filter.json"].source == "device/filter.json"
    assert files["/etc/systemd/system/layoutc-arm.service"].mode == 0o644
    assert files["/etc/grub.d/45_layoutc_recovery"].mode == 0o755
    assert files["/etc/kernel/cmdline"].role == "kernel-install-cmdline"
    assert "/etc/udev/rules.d/90-layoutc-rearm.rules" in files
    assert {a for a, _ in qemu_plan.skipped} == {"mkosi/layoutc.conf", "bls/layoutc-recovery-qemu-4g.conf"}
    assert qemu_plan.manifest == MANIFEST
    assert [e.path for e in qemu_plan.entries] == sorted(e.path for e in qemu_plan.entries)


def test_the_kernel_install_plugin_and_the_dumper() -> None:
    from layoutc.install.plan import install_plan

    from .conftest import QEMU, artifacts_of

    profile, artifacts = artifacts_of(QEMU)
    plan = install_plan(profile.board, profile.file, "test", artifacts, dumper=b"PK-zipapp", device_tools=b"PK-dev")
    files = {e.path: e for e in plan.entries if e.kind is EntryKind.FILE}
    plugin = files["/etc/kernel/install.d/91-layoutc-recovery.install"]
    assert plugin.mode == 0o755 and plugin.source == "kernel-install/91-layoutc-recovery.install"
    dumper = files["/usr/lib/layoutc/dump.pyz"]
    assert (dumper.mode, dumper.content, dumper.role) == (0o755, b"PK-zipapp", "dumper")
    tools = files["/usr/lib/layoutc/layoutc-device.pyz"]
    assert (tools.mode, tools.content, tools.role) == (0o755, b"PK-dev", "device-tools")
    without = install_plan(profile.board, profile.file, "test", artifacts)
    assert not {"/usr/lib/layoutc/dump.pyz", "/usr/lib/layoutc/layoutc-device.pyz"} & {e.path for e in without.entries}


def test_enablement_links_follow_the_install_sections(qemu_plan: InstallPlan) -> None:
    links = {e.path: e.target for e in qemu_plan.entries if e.role == "unit-enablement"}
    unit = "/etc/systemd/system"
    assert links == {
        f"{unit}/multi-user.target.wants/layoutc-arm.service": f"{unit}/layoutc-arm.service",
        f"{unit}/multi-user.target.wants/layoutc-recover.service": f"{unit}/layoutc-recover.service",
        f"{unit}/initrd.target.wants/layoutc-capture.service": f"{unit}/layoutc-capture.service",
    }


def test_preset_replaces_the_links() -> None:
    from layoutc.install.plan import install_plan

    from .conftest import QEMU, artifacts_of

    profile, artifacts = artifacts_of(QEMU)
    plan = install_plan(profile.board, profile.file, "test", artifacts, preset=True)
    links = [e.path for e in plan.entries if e.kind is EntryKind.LINK]
    assert links == ["/etc/systemd/system/kdump-tools.service"]  # the mask (crash_owner.py), no enablement
    preset = next(e for e in plan.entries if e.path == PRESET)
    assert preset.content.decode().splitlines()[1:] == [
        "enable layoutc-arm.service", "enable layoutc-capture.service", "enable layoutc-recover.service"]


def test_install_section_as_systemd_reads_it() -> None:
    text = ("[Unit]\nWantedBy=not-this.target\n[Install]\n# comment\nWantedBy=a.target b.target\n"
            "WantedBy=c.target\nRequiredBy=d.target\nAlias=x.service\n[Service]\nWantedBy=nor-this\n")
    assert install_section(text) == {"WantedBy": ("a.target", "b.target", "c.target"), "RequiredBy": ("d.target",),
                                     "Alias": ("x.service",)}
    assert install_section("[Install]\nWantedBy=a.target\nWantedBy=\nWantedBy=b.target\n") == {
        "WantedBy": ("b.target",)}
    made = enablement("/etc/systemd/system/u.service", text)
    assert made.links == (
        ("/etc/systemd/system/a.target.wants/u.service", "/etc/systemd/system/u.service"),
        ("/etc/systemd/system/b.target.wants/u.service", "/etc/systemd/system/u.service"),
        ("/etc/systemd/system/c.target.wants/u.service", "/etc/systemd/system/u.service"),
        ("/etc/systemd/system/d.target.requires/u.service", "/etc/systemd/system/u.service"),
        ("/etc/systemd/system/x.service", "/etc/systemd/system/u.service"),
    )
    assert enablement("/etc/systemd/system/s.service", "[Service]\nExecStart=/bin/true\n").links == ()


def test_a_distribution_stack_gets_no_layoutc_crash_units() -> None:
    """With ``crash.stack: kdump-tools`` the package's service arms and saves: layoutc's arm, rearm, capture and
    recovery units and the rearm rule are not laid (nor enabled), so no second crash kernel is loaded over it."""
    from layoutc.install.plan import OWN_STACK_SKIPPED, install_plan

    from .conftest import REPO, artifacts_of

    profile, artifacts = artifacts_of(REPO / "profiles" / "qemu" / "qemu-4g-debian-kdump.yaml")
    plan = install_plan(profile.board, profile.file, "test", artifacts)
    paths = {e.path for e in plan.entries}
    assert "/etc/default/kdump-tools" in paths and "/etc/systemd/system/kdump-tools.service" not in paths
    assert not [p for p in paths if p.startswith(("/etc/systemd/", "/etc/udev/"))]
    skipped = {a for a, why in plan.skipped if why == OWN_STACK_SKIPPED}
    assert skipped == {"device/systemd/layoutc-arm.service", "device/systemd/layoutc-rearm.service",
                       "device/systemd/layoutc-capture.service", "device/systemd/layoutc-recover.service",
                       "device/udev/90-layoutc-rearm.rules"}  # fmt: skip
