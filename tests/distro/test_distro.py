"""crash.stack kdump-tools / kdump-utils: the generated distribution files, checked by their readers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.frontend.load import load_profile
from layoutc.render import render_all
from layoutc.render.device import device_artifacts
from layoutc.solve import solve

from ..artifacts.helpers import tool
from ..conftest import REPO, assert_golden

HERE = Path(__file__).resolve().parent
BOARDS = ("debian-disk", "debian-fixed", "fedora-arm64")
# kdumpctl parse_config: the directives kdump.conf may hold, and the file system types of a target line
KDUMP_CONF_KEYS = {"raw", "ext2", "ext3", "ext4", "minix", "btrfs", "xfs", "virtiofs", "nfs", "ssh", "sshkey", "path",
                   "core_collector", "kdump_post", "kdump_pre", "kdump_emergency", "extra_bins", "extra_modules",
                   "failure_action", "final_action", "force_rebuild", "force_no_rebuild", "dracut_args",
                   "fence_kdump_args", "fence_kdump_nodes", "auto_reset_crashkernel"}


def compiled(board: str) -> dict[str, bytes]:
    diags = Diagnostics()
    path = HERE / "profiles" / f"{board}.yaml"
    profile = load_profile(path, str(path.relative_to(REPO)), diags)
    assert profile is not None, list(diags)
    layout = solve(profile, diags)
    assert layout is not None, list(diags)
    files = {a.relpath: a.content for a in device_artifacts(profile, layout)}
    files.update({a.relpath: a.content for a in render_all(layout)})
    return files


@pytest.fixture(autouse=True)
def _at_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


@pytest.mark.parametrize("board", BOARDS)
def test_golden(board: str) -> None:
    files = {k: v for k, v in compiled(board).items() if k.startswith("device/distro/")}
    for relpath, content in files.items():
        assert_golden(HERE / "golden" / board / relpath, content)
    on_disk = {str(p.relative_to(HERE / "golden" / board)) for p in (HERE / "golden" / board).rglob("*") if p.is_file()}
    assert on_disk == set(files)


def test_which_files_each_stack_gets() -> None:
    debian, fixed, fedora = (set(compiled(b)) for b in BOARDS)
    assert {"device/distro/kdump-tools/kdump-tools", "device/distro/makedumpfile",
            "device/distro/divert-makedumpfile.sh"} <= debian and not any("kdump-utils" in p for p in debian)
    assert "device/distro/makedumpfile" not in fixed and "device/distro/kdump-tools/kdump-tools" in fixed
    assert "device/distro/kdump-utils/kdump.conf" in fedora and "device/distro/divert-makedumpfile.sh" not in fedora
    bundled = compiled_bundled()
    assert not any(p.startswith("device/distro/") for p in bundled)


def compiled_bundled() -> set[str]:
    diags = Diagnostics()
    profile = load_profile(REPO / "profiles/qemu/qemu-4g-cma-disk.yaml", "profiles/qemu/qemu-4g-cma-disk.yaml", diags)
    assert profile is not None
    layout = solve(profile, diags)
    assert layout is not None
    return {a.relpath for a in device_artifacts(profile, layout)}


SH_FILES = [("debian-disk", "device/distro/kdump-tools/kdump-tools"), ("debian-disk", "device/distro/makedumpfile"),
            ("debian-disk", "device/distro/divert-makedumpfile.sh"),
            ("fedora-arm64", "device/distro/kdump-utils/sysconfig-kdump")]


@pytest.mark.parametrize(("board", "relpath"), SH_FILES)
def test_sh_syntax_and_shellcheck(board: str, relpath: str, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(compiled(board)[relpath])
    sh = shutil.which("sh")
    assert sh is not None
    assert subprocess.run([sh, "-n", str(path)], capture_output=True).returncode == 0
    result = subprocess.run([tool("shellcheck"), "-s", "sh", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def sourced(text: bytes, tmp_path: Path, names: str) -> dict[str, str]:
    path = tmp_path / "defaults"
    path.write_bytes(text)
    script = f". {path}; " + "; ".join(f'printf "%s\\n" "${name}"' for name in names.split())
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    return dict(zip(names.split(), out, strict=True))


def test_kdump_tools_defaults_as_kdump_config_reads_them(tmp_path: Path) -> None:
    values = sourced(compiled("debian-disk")["device/distro/kdump-tools/kdump-tools"], tmp_path,
                     "USE_KDUMP KDUMP_COREDIR KDUMP_CMDLINE_APPEND MAKEDUMP_ARGS KDUMP_NUM_DUMPS")
    assert values == {"USE_KDUMP": "1", "KDUMP_COREDIR": "/var/crash",
                      "KDUMP_CMDLINE_APPEND": "reset_devices systemd.unit=kdump-tools-dump.service nr_cpus=1 "
                                              "irqpoll usbcore.nousb",
                      "MAKEDUMP_ARGS": "-c -d 31", "KDUMP_NUM_DUMPS": "3"}


def test_arm64_append_keeps_debian_words_and_adds_the_layouts() -> None:
    from layoutc.render.distro_view import merge

    assert merge(("reset_devices", "nr_cpus=1"), ["cma=0", "irqpoll", "nr_cpus=2", "console=ttyS0"],
                 {"console=ttyS0"}) == ("reset_devices", "nr_cpus=2", "cma=0", "irqpoll")


def grub_cmdline(snippets: list[bytes], tmp_path: Path) -> list[str]:
    """What grub-mkconfig gets: /etc/default/grub then each grub.d/*.cfg in name order, sourced by sh."""
    script = 'GRUB_CMDLINE_LINUX=""; GRUB_CMDLINE_LINUX_DEFAULT="quiet"; '
    for index, text in enumerate(snippets):
        (tmp_path / f"{index}.cfg").write_bytes(text)
        script += f". {tmp_path / f'{index}.cfg'}; "
    script += 'printf "%s\\n" "$GRUB_CMDLINE_LINUX $GRUB_CMDLINE_LINUX_DEFAULT"'
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout.split()


def test_one_crashkernel_owner(tmp_path: Path) -> None:
    files = compiled("debian-disk")
    ours = [files["device/distro/kdump-tools/grub.d/kdump-tools.cfg"], files["grub/default.d/layoutc.cfg"]]
    words = [w for w in grub_cmdline(ours, tmp_path) if w.startswith("crashkernel=")]
    assert words == ["crashkernel=96M", "crashkernel=256M,cma"]
    # the package's own file beside layoutc's would give the kernel two sizes: the check sees that
    stock = b'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=512M-:192M"\n'
    assert len([w for w in grub_cmdline([stock, ours[1]], tmp_path) if w.startswith("crashkernel=")]) == 3


def parse_kdump_conf(text: str) -> dict[str, list[str]]:
    """kdump.conf as kdumpctl reads it: comments and blank lines dropped, one 'key value...' per line."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, _, value = line.partition(" ")
        assert key in KDUMP_CONF_KEYS, f"kdumpctl refuses {key!r}"
        assert key not in found, f"{key} twice"
        assert value.strip(), f"{key} without a value"
        found[key] = value.split()
    return found


def test_kdump_conf_lines() -> None:
    conf = parse_kdump_conf(compiled("fedora-arm64")["device/distro/kdump-utils/kdump.conf"].decode())
    assert conf == {"ext4": ["/dev/disk/by-partlabel/crash"], "path": ["/"],
                    "core_collector": ["/usr/lib/layoutc/makedumpfile", "-c", "--message-level", "7", "-d", "31"],
                    "extra_bins": ["/usr/lib/layoutc/dump.pyz", "/etc/layoutc/filter.json"],
                    "failure_action": ["reboot"]}
    with pytest.raises(AssertionError, match="kdumpctl refuses 'collector'"):
        parse_kdump_conf("collector makedumpfile\n")
