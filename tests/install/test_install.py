"""``layoutc install`` into scratch roots: laid, idempotent, enabled as systemctl sees it, uninstalled to
nothing, never outside the root, all or nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from layoutc.model.install_plan import EntryKind, InstallPlan
from layoutc.writer import install as writer
from layoutc.writer.install import InstallError, InstallRefused, install, uninstall

from .conftest import snapshot

MANIFEST = "/var/lib/layoutc/manifest.json"


def _codes(exc: InstallRefused) -> list[str]:
    return [e.code for e in exc.errors]


def test_install_lays_every_entry_and_a_manifest(tmp_path: Path, qemu_plan: InstallPlan) -> None:
    report = install(tmp_path, qemu_plan)
    assert report.changed and all(c.action == "written" for c in report.changes)
    tree = snapshot(tmp_path)
    for entry in qemu_plan.entries:
        if entry.kind is EntryKind.FILE:
            assert tree[entry.path] == ("file", entry.content, entry.mode), entry.path
        else:
            assert tree[entry.path] == ("link", entry.target, 0), entry.path
    manifest = json.loads(tree[MANIFEST][1])
    assert manifest["board"] == "qemu-4g" and manifest["version"] == "test"
    assert [e["path"] for e in manifest["entries"]] == [e.path for e in qemu_plan.entries]
    assert "/usr/lib/layoutc" in manifest["directories"] and "/etc" in manifest["directories"]


def test_a_second_install_changes_nothing(tmp_path: Path, qemu_plan: InstallPlan) -> None:
    install(tmp_path, qemu_plan)
    before = {p: (tmp_path / p[1:]).lstat().st_mtime_ns for p in snapshot(tmp_path)}
    report = install(tmp_path, qemu_plan)
    assert not report.changed and {c.action for c in report.changes} == {"unchanged"}
    assert {p: (tmp_path / p[1:]).lstat().st_mtime_ns for p in snapshot(tmp_path)} == before


def test_uninstall_leaves_the_root_as_it_was(tmp_path: Path, qemu_plan: InstallPlan) -> None:
    (tmp_path / "etc" / "systemd").mkdir(parents=True)
    (tmp_path / "etc" / "hostname").write_text("device\n")
    before = snapshot(tmp_path)
    install(tmp_path, qemu_plan)
    report = uninstall(tmp_path, MANIFEST)
    assert report.board == "qemu-4g" and report.changed
    assert snapshot(tmp_path) == before
    assert uninstall(tmp_path, MANIFEST).changes == ()  # nothing installed any more


@pytest.mark.skipif(shutil.which("systemctl") is None, reason="needs systemctl")
def test_units_are_enabled_as_systemctl_sees_them(tmp_path: Path, qemu_plan: InstallPlan) -> None:
    install(tmp_path, qemu_plan)

    def state(unit: str) -> str:
        run = subprocess.run(["systemctl", f"--root={tmp_path}", "is-enabled", unit], capture_output=True, text=True,
                             check=False)
        return run.stdout.strip()

    assert state("layoutc-arm.service") == "enabled"
    assert state("layoutc-recover.service") == "enabled"
    assert state("layoutc-capture.service") == "enabled"
    assert state("layoutc-rearm.service") == "static"  # no [Install]: the udev rule starts it


@pytest.mark.skipif(shutil.which("systemctl") is None, reason="needs systemctl")
def test_the_links_are_the_ones_systemctl_enable_makes(tmp_path: Path, qemu_plan: InstallPlan) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    install(ours, qemu_plan)
    units = theirs / "etc" / "systemd" / "system"
    units.mkdir(parents=True)
    for unit in (ours / "etc" / "systemd" / "system").glob("*.service"):
        if not unit.is_symlink():  # the kdump-tools.service mask is systemctl mask's, below
            shutil.copy(unit, units / unit.name)
    subprocess.run(["systemctl", f"--root={theirs}", "enable", *(u.name for u in units.glob("*.service"))],
                   capture_output=True, check=True)
    subprocess.run(["systemctl", f"--root={theirs}", "mask", "kdump-tools.service"], capture_output=True, check=True)

    def links(root: Path) -> dict[str, str]:
        return {p: t for p, (kind, t, _) in snapshot(root).items() if kind == "link"}  # type: ignore[misc]

    assert links(ours) == links(theirs) and links(ours)


@pytest.mark.parametrize("link", ["/etc", "../..", "../../outside", "usr/../../x"])
def test_a_link_out_of_the_root_is_refused_and_nothing_is_written(tmp_path: Path, qemu_plan: InstallPlan,
                                                                   link: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "usr").mkdir()
    (root / "etc").symlink_to(link)
    before = snapshot(tmp_path)
    with pytest.raises(InstallRefused) as caught:
        install(root, qemu_plan)
    assert set(_codes(caught.value)) == {"LC501"}
    assert snapshot(tmp_path) == before


def test_the_exact_text_of_an_escape(tmp_path: Path, qemu_plan: InstallPlan) -> None:
    (tmp_path / "etc").symlink_to("/etc")
    with pytest.raises(InstallRefused) as caught:
        install(tmp_path, qemu_plan)
    assert caught.value.errors[0].message == (
        "/etc is a symbolic link to the absolute path /etc, which names the host's file system, not the root's; "
        "nothing was written")


def test_a_link_inside_the_root_is_followed(tmp_path: Path, qemu_plan: InstallPlan) -> None:
    (tmp_path / "real-etc").mkdir()
    (tmp_path / "etc").symlink_to("real-etc")
    install(tmp_path, qemu_plan)
    assert (tmp_path / "real-etc" / "kernel" / "cmdline").is_file()
    assert (tmp_path / "etc").is_symlink()


def test_a_file_that_is_not_layoutcs_is_kept_unless_forced(tmp_path: Path, qemu_plan: InstallPlan) -> None:
    (tmp_path / "etc" / "kernel").mkdir(parents=True)
    (tmp_path / "etc" / "kernel" / "cmdline").write_text("root=/dev/sda1 quiet\n")
    before = snapshot(tmp_path)
    with pytest.raises(InstallRefused) as caught:
        install(tmp_path, qemu_plan)
    assert caught.value.errors[0].message == (
        "/etc/kernel/cmdline exists and is not layoutc's (the install manifest does not list it); move it away, "
        "or pass --force to replace it")
    assert snapshot(tmp_path) == before
    install(tmp_path, qemu_plan, force=True)
    assert (tmp_path / "etc" / "kernel" / "cmdline").read_bytes() != b"root=/dev/sda1 quiet\n"


def test_an_edited_file_is_not_uninstalled_unless_forced(tmp_path: Path, qemu_plan: InstallPlan) -> None:
    install(tmp_path, qemu_plan)
    (tmp_path / "usr" / "lib" / "layoutc" / "arm.sh").write_text("#!/bin/sh\n# mine now\n")
    before = snapshot(tmp_path)
    with pytest.raises(InstallRefused) as caught:
        uninstall(tmp_path, MANIFEST)
    assert _codes(caught.value) == ["LC503"]
    assert snapshot(tmp_path) == before
    with pytest.raises(InstallRefused):  # a reinstall would replace it: refused too
        install(tmp_path, qemu_plan)
    uninstall(tmp_path, MANIFEST, force=True)
    assert snapshot(tmp_path) == {}


def test_another_board_is_not_replaced_unless_forced(tmp_path: Path, qemu_plan: InstallPlan) -> None:
    from dataclasses import replace

    install(tmp_path, qemu_plan)
    with pytest.raises(InstallRefused) as caught:
        install(tmp_path, replace(qemu_plan, board="other"))
    assert _codes(caught.value) == ["LC510"]


@pytest.mark.parametrize("fail_at", [1, 7, 19])  # 19: the manifest, written last
def test_a_failure_rolls_back_everything(tmp_path: Path, qemu_plan: InstallPlan, fail_at: int,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    (tmp_path / "etc").mkdir()
    install(tmp_path, qemu_plan)
    # a new version of every file: the failing run replaces some of them before it fails
    newer = replace(qemu_plan, entries=tuple(replace(e, content=e.content + b"\n# v2\n") if e.kind is EntryKind.FILE
                                             else e for e in qemu_plan.entries))
    before = snapshot(tmp_path)
    calls = {"n": 0}
    real = writer._stage

    def failing(dir_fd: int, temporary: str, content: bytes, mode: int) -> None:
        calls["n"] += 1
        if calls["n"] == fail_at:
            raise OSError(28, "No space left on device", temporary)
        real(dir_fd, temporary, content, mode)

    monkeypatch.setattr(writer, "_stage", failing)
    with pytest.raises(InstallError) as caught:
        install(tmp_path, newer)
    assert caught.value.code == "LC508"
    assert snapshot(tmp_path) == before
    assert not [p for p in snapshot(tmp_path) if ".layoutc-" in p]


def test_a_failing_first_install_leaves_an_empty_root(tmp_path: Path, qemu_plan: InstallPlan,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    real = writer._stage
    calls = {"n": 0}

    def failing(dir_fd: int, temporary: str, content: bytes, mode: int) -> None:
        calls["n"] += 1
        if calls["n"] == 12:
            raise OSError(5, "Input/output error", temporary)
        real(dir_fd, temporary, content, mode)

    monkeypatch.setattr(writer, "_stage", failing)
    with pytest.raises(InstallError):
        install(tmp_path, qemu_plan)
    assert snapshot(tmp_path) == {}


def test_dry_run_changes_nothing(tmp_path: Path, qemu_plan: InstallPlan) -> None:
    report = install(tmp_path, qemu_plan, dry_run=True)
    assert snapshot(tmp_path) == {}
    assert {c.action for c in report.changes} == {"would-write"}
    install(tmp_path, qemu_plan)
    assert {c.action for c in install(tmp_path, qemu_plan, dry_run=True).changes} == {"unchanged"}
    assert {c.action for c in uninstall(tmp_path, MANIFEST, dry_run=True).changes} == {"would-remove"}
    assert (tmp_path / MANIFEST[1:]).is_file()


def test_a_tampered_manifest_is_refused(tmp_path: Path, qemu_plan: InstallPlan) -> None:
    install(tmp_path, qemu_plan)
    manifest = tmp_path / MANIFEST[1:]
    doc = json.loads(manifest.read_text())
    doc["entries"][0]["path"] = "/../../etc/passwd"
    manifest.write_text(json.dumps(doc))
    with pytest.raises(InstallError) as caught:
        uninstall(tmp_path, MANIFEST)
    assert caught.value.code == "LC507"


def test_a_stale_entry_of_the_previous_install_is_removed(tmp_path: Path, qemu_plan: InstallPlan) -> None:
    from dataclasses import replace

    install(tmp_path, qemu_plan)
    fewer = replace(qemu_plan, entries=tuple(e for e in qemu_plan.entries if "layout.txt" not in e.path))
    report = install(tmp_path, fewer)
    assert [c.path for c in report.changes if c.action == "removed"] == ["/usr/lib/layoutc/layout.txt"]
    assert not os.path.lexists(tmp_path / "usr" / "lib" / "layoutc" / "layout.txt")
