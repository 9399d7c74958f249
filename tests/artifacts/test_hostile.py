"""Hostile strings in profile string fields: rejected by the schema with a clear error, or quoted so
that running the generated scripts executes nothing (a marker file is never created).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layoutc.diagnostics.diagnostic import Diagnostics, render_text
from layoutc.frontend.load import load_profile
from layoutc.model.profile import Profile

from ..conftest import REPO
from .helpers import layout
from .test_arm import Board
from .test_capture import CrashKernel, grubenv
from .test_recover import NextBoot, window_fs


def hostile(marker: Path) -> str:
    """Every shell metacharacter the schema lets through, each trying to create the marker."""
    m = str(marker)
    return (f"x' \"$(touch {m}.1)\" `touch {m}.2` ; touch {m}.3 && touch {m}.4 | touch {m}.5 "
            f"$HOME ! \\ # %h {{dump}}' \"")


def cmdline_hostile(marker: Path) -> str:
    """The same attack as a cmdline the front end accepts: no ' or \\, double quotes around whole words."""
    m = str(marker)
    return (f"x \"$(touch {m}.1)\" `touch {m}.2` ; touch {m}.3 && touch {m}.4 | touch {m}.5 "
            f"$HOME ! # %h {{dump}} opt=\"a;b $c\"")


def _profile(tmp: Path, body: str) -> tuple[Profile | None, str]:
    (tmp / "qemu").mkdir(exist_ok=True)
    for name in ("qemu-4g.yaml",):
        (tmp / "qemu" / name).write_text((REPO / "profiles/qemu" / name).read_text())
    path = tmp / "qemu" / "hostile.yaml"
    path.write_text("schema_version: 1\nextends: qemu-4g.yaml\nboard: hostile\n" + body)
    diags = Diagnostics()
    prof = load_profile(path, "qemu/hostile.yaml", diags)
    return prof, render_text(diags.sorted())


REJECTED = {
    "board": ("board: \"a;touch x\"\n", "board"),
    "description-newline": ("description: \"a\\n$(touch x)\"\n", "description"),
    "kernel-cmdline-newline": ("kernel: {cmdline: \"console=ttyS0\\ntouch x\"}\n", "kernel.cmdline"),
    "crash-cmdline-newline": ("crash: {cmdline: \"a\\n`touch x`\"}\n", "crash.cmdline"),
    "kernel-path": ("crash: {kernel_path: \"/boot/$(touch x)\"}\n", "crash.kernel_path"),
    "initrd-path": ("crash: {initrd_path: \"/boot/a b\"}\n", "crash.initrd_path"),
    "store": ("recovery: {store: \"/var/crash;touch x\"}\n", "recovery.store"),
    "upload-newline": ("recovery: {upload: [\"/bin/up\", \"a\\nb\"]}\n", "recovery.upload"),
    "hook-newline": ("recovery: {boot_selection: hook, hook: [\"/bin/h\\nx\"]}\n", "recovery.hook"),
    "exclude-reason": ("dump: {exclude: [{start: 0x1000, size: 4096, reason: \"a;b\"}]}\n", "dump.exclude"),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_schema_rejects(tmp_path: Path, case: str) -> None:
    body, where = REJECTED[case]
    prof, text = _profile(tmp_path, body)
    assert prof is None, f"{case} was accepted"
    assert "error" in text and where.split(".")[0] in text, text


def test_disk_device_rejected(tmp_path: Path) -> None:
    prof, text = _profile(tmp_path, "crash: {target: disk}\ndisk: {device: \"/dev/$(touch x)\"}\n")
    assert prof is None and "disk.device" in text, text


def _accepted(tmp: Path, body: str) -> Profile:
    prof, text = _profile(tmp, body)
    assert prof is not None, text
    return prof


def _no_markers(marker: Path) -> None:
    made = sorted(p.name for p in marker.parent.glob(marker.name + "*"))
    assert not made, f"hostile input executed: {made}"


def test_crash_cmdline_and_description_are_inert(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = cmdline_hostile(marker)
    prof = _accepted(tmp_path, f"description: {json.dumps(hostile(marker))}\n"
                               f"crash: {{cmdline: {json.dumps('console=ttyS0 ' + evil)}}}\n")
    doc = layout("qemu-4g", prof)
    b = Board(tmp_path / "arm", "qemu-4g", prof, doc)
    run = b.arm("production")
    assert run.code == 0, run.err
    _no_markers(marker)
    (kexec,) = run.called("kexec")
    expected = " ".join(f"console=ttyS0 {evil} {doc['cmdline']['crash']}".split())
    assert f"[--append={expected}]" in kexec


def test_upload_arguments_are_inert_and_exact(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = hostile(marker)
    prof = _accepted(tmp_path, "recovery: {store: /var/crash}\n")
    nb = NextBoot(tmp_path / "rec", "qemu-4g", prof)
    upload = str(nb.bin / "upload")
    from .helpers import with_recovery, write_artifacts

    nb.prof = with_recovery(prof, upload=(upload, evil, "pre{dump}post", "{dump}", ""))
    nb.device = write_artifacts(nb.prof, nb.doc, tmp_path / "rec" / "out2")
    window_fs(nb.fs)
    run = nb.recover()
    assert run.code == 0, run.err
    _no_markers(marker)
    dump = f"{nb.stored()}/vmcore"
    parts = evil.split("{dump}")
    assert run.called("upload") == [f"upload [{parts[0]}{dump}{parts[1]}] [pre{dump}post] [{dump}] []"]


def test_hook_arguments_are_inert_and_exact(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = hostile(marker).replace("{dump}", "")
    prof = _accepted(tmp_path, 'recovery: {boot_selection: hook, hook: ["/bin/true"]}\n')
    ck = CrashKernel(tmp_path / "cap", "qemu-4g", prof)
    from .helpers import stub, with_recovery, write_artifacts

    hook = stub(tmp_path / "hookbin", "hook", "")
    ck.prof = with_recovery(prof, hook=(str(hook), evil))
    ck.device = write_artifacts(ck.prof, ck.doc, tmp_path / "cap" / "out2")
    grubenv(ck.root)
    run = ck.capture()
    assert run.code == 0, run.err
    _no_markers(marker)
    assert run.called("hook") == [f"hook [{evil}]"]


def test_trailing_newlines_stay_harmless(tmp_path: Path) -> None:
    """The schema's "$" lets a trailing newline through (Python re); whatever gets through stays inert."""
    from .helpers import artifacts

    prof, text = _profile(tmp_path, 'description: "d\\n"\nrecovery: {store: "/var/crash\\n", upload: ["/bin/up\\n"]}\n'
                                    'crash: {cmdline: "console=ttyS0\\n"}\n')
    if prof is None:  # the schema was fixed
        assert "error" in text
        return
    produced = artifacts(prof, layout("qemu-4g", prof))
    unit = produced["device/systemd/layoutc-recover.service"].decode()
    assert "RequiresMountsFor" not in unit and "\n\n\n" not in unit
    assert "STORE=\"$R\"'/var/crash\n'" in produced["device/recover.sh"].decode()
    assert "# d \n" in produced["device/arm.sh"].decode()


def test_trailing_newline_board_keeps_scripts_valid(tmp_path: Path) -> None:
    import subprocess

    from .helpers import artifacts

    path = tmp_path / "qemu"
    path.mkdir()
    (path / "qemu-4g.yaml").write_text((REPO / "profiles/qemu/qemu-4g.yaml").read_text())
    (path / "b.yaml").write_text('schema_version: 1\nextends: qemu-4g.yaml\nboard: "nl\\n"\n')
    diags = Diagnostics()
    prof = load_profile(path / "b.yaml", "qemu/b.yaml", diags)
    if prof is None:  # the schema was fixed
        return
    for relpath, content in artifacts(prof, layout("qemu-4g", prof)).items():
        if relpath.endswith(".sh"):
            script = tmp_path / relpath.replace("/", "_")
            script.write_bytes(content)
            result = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
            assert result.returncode == 0, (relpath, result.stderr)
        elif not relpath.endswith(".json"):
            assert content.decode().splitlines()[0].endswith("-- do not edit"), relpath
