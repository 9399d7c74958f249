"""The layout's crashkernel= wins beside Debian's kdump-tools: the late GRUB snippet, sourced by sh as
grub-mkconfig sources /etc/default/grub.d, and the kdump-tools.service mask, undone by --uninstall."""

from __future__ import annotations

import locale
import os
import subprocess
from pathlib import Path

import pytest

from layoutc.install.crash_owner import KDUMP_TOOLS_MASK, LATE_SNIPPET, crash_owner_entries
from layoutc.install.plan import install_plan
from layoutc.model.install_plan import EntryKind, InstallPlan
from layoutc.writer.install import install, uninstall

from .conftest import artifacts_of, snapshot

# Debian 12's kdump-tools 1:1.8.1 /etc/default/grub.d/kdump-tools.cfg, byte for byte
KDUMP_TOOLS_CFG = 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=384M-:128M"\n'
DEFAULT_GRUB = 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="console=ttyS0,115200"\n'
# grub-mkconfig (GRUB 2.06 util/grub-mkconfig.in) reads /etc/default/grub, then every grub.d/*.cfg in
# glob order; 10_linux puts "${GRUB_CMDLINE_LINUX} ${GRUB_CMDLINE_LINUX_DEFAULT}" on the linux line
MKCONFIG = """set -e
sysconfdir="$1"
if test -f ${sysconfdir}/default/grub ; then
  . ${sysconfdir}/default/grub
fi
for x in ${sysconfdir}/default/grub.d/*.cfg ; do
  if [ -e "${x}" ]; then
    . "${x}"
  fi
done
echo "${GRUB_CMDLINE_LINUX} ${GRUB_CMDLINE_LINUX_DEFAULT}"
case $- in *f*) echo noglob-leaked ;; esac
"""


def _linux_words(root: Path) -> list[str]:
    done = subprocess.run(["sh", "-c", MKCONFIG, "sh", str(root / "etc")], capture_output=True, text=True,
                          check=True, timeout=30, env={"PATH": os.environ["PATH"], "LC_ALL": "C"})  # fmt: skip
    return done.stdout.split()


def _debian_root(root: Path) -> None:
    (root / "etc" / "default" / "grub.d").mkdir(parents=True)
    (root / "etc" / "default" / "grub").write_text(DEFAULT_GRUB)
    (root / "etc" / "default" / "grub.d" / "kdump-tools.cfg").write_text(KDUMP_TOOLS_CFG)


@pytest.fixture(scope="module")
def plan() -> InstallPlan:
    from .conftest import QEMU

    profile, artifacts = artifacts_of(QEMU)
    return install_plan(profile.board, profile.file, "test", artifacts)


def test_the_late_snippet_sorts_after_the_packages_and_layoutcs() -> None:
    names = ["kdump-tools.cfg", "layoutc.cfg", "init-select.cfg", "50-cloudimg-settings.cfg", "Z.cfg",
             LATE_SNIPPET.rsplit("/", 1)[-1]]  # fmt: skip
    assert sorted(names)[-1] == LATE_SNIPPET.rsplit("/", 1)[-1]  # the C locale's byte order
    assert sorted(names, key=locale.strxfrm)[-1] == LATE_SNIPPET.rsplit("/", 1)[-1]


def test_installed_crashkernel_is_the_last_word_grub_writes(tmp_path: Path, plan: InstallPlan) -> None:
    _debian_root(tmp_path)
    assert _linux_words(tmp_path)[-1] == "crashkernel=384M-:128M"  # the problem: the package's word last
    install(tmp_path, plan)
    words = _linux_words(tmp_path)
    assert "noglob-leaked" not in words
    assert [w for w in words if w.startswith("crashkernel=")] == ["crashkernel=256M"]
    assert words == ["console=ttyS0,115200", "crashkernel=256M", "movablecore=512M", "nokaslr", "quiet"]


def test_the_snippet_keeps_every_other_default_word_and_no_glob(tmp_path: Path, plan: InstallPlan) -> None:
    _debian_root(tmp_path)
    (tmp_path / "etc" / "default" / "grub").write_text(
        'GRUB_CMDLINE_LINUX_DEFAULT="crashkernel=1G quiet  splash crashkernel=64M,low *"\n'
    )
    (tmp_path / "etc" / "default" / "grub.d" / "a.cfg").write_text("")  # a file the * would glob to
    install(tmp_path, plan)
    assert _linux_words(tmp_path) == ["crashkernel=256M", "movablecore=512M", "nokaslr", "quiet", "splash", "*"]


def test_the_layoutc_stack_masks_kdump_tools_and_uninstall_unmasks(tmp_path: Path, plan: InstallPlan) -> None:
    entries = {e.path: e for e in plan.entries}
    mask = entries[KDUMP_TOOLS_MASK]
    assert (mask.kind, mask.target, mask.role) == (EntryKind.LINK, "/dev/null", "kdump-tools-mask")
    assert entries[LATE_SNIPPET].kind is EntryKind.FILE and entries[LATE_SNIPPET].mode == 0o644
    _debian_root(tmp_path)
    before = snapshot(tmp_path)
    install(tmp_path, plan)
    assert os.readlink(tmp_path / KDUMP_TOOLS_MASK.lstrip("/")) == "/dev/null"
    done = subprocess.run(["systemctl", f"--root={tmp_path}", "is-enabled", "kdump-tools.service"],
                          capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    if done.stdout.strip():  # systemctl present: it reads the link as systemctl mask makes it
        assert done.stdout.strip() == "masked"
    uninstall(tmp_path, plan.manifest)
    assert snapshot(tmp_path) == before


def test_distribution_stacks_keep_their_service_but_get_the_snippet() -> None:
    for roles in ({"grub-snippet", "kdump-tools-default", "kdump-tools-grub"},
                  {"grub-snippet", "kdump-utils-conf"}):  # fmt: skip
        assert [e.path for e in crash_owner_entries("b", roles)] == [LATE_SNIPPET]
    assert [e.path for e in crash_owner_entries("b", {"arm-script"})] == [KDUMP_TOOLS_MASK]
    text = crash_owner_entries("b\nGRUB_CMDLINE_LINUX=x", {"grub-snippet"})[0].content.decode()
    assert "\nGRUB_CMDLINE_LINUX=x" not in text  # the board's name stays in its comment line
