"""The kdump-tools cycle's pure parts (lab/system/kdump_cycle.py, kdump_facts.py): the generated sh values, the
kexec command kdump-config records, ``kdump-config show``, the serial log cut per stage run, the guest shell."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from layoutc.lab.boot.serial import parse_serial
from layoutc.lab.system import build, kdump_cycle
from layoutc.lab.system.kdump_facts import (
    arm_facts,
    collector_fact,
    crash_command_line,
    diverted_fact,
    sh_values,
    state_line,
)

DEFAULT = """# shellcheck shell=sh disable=SC2034
USE_KDUMP='1'
KDUMP_COREDIR='/var/crash'
KDUMP_CMDLINE_APPEND='reset_devices systemd.unit=kdump-tools-dump.service nr_cpus=1 irqpoll usbcore.nousb'
MAKEDUMP_ARGS='-c -d 31'
"""
# kdump-config 1:1.8.1 kdump_load: the command it evals and records in $KDUMP_COREDIR/kexec_cmd
KEXEC_CMD = ('/sbin/kexec -p --command-line="BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-cloud-amd64 root=UUID=x ro '
             'console=ttyS0 reset_devices systemd.unit=kdump-tools-dump.service nr_cpus=1 irqpoll usbcore.nousb" '
             "--initrd=/var/lib/kdump/initrd.img /var/lib/kdump/vmlinuz\n")  # fmt: skip


def test_sh_values_read_the_generated_file_as_sh_does() -> None:
    values = sh_values(DEFAULT)
    assert values["MAKEDUMP_ARGS"] == "-c -d 31" and values["KDUMP_COREDIR"] == "/var/crash"
    assert "shellcheck" not in values


def test_the_recorded_kexec_command_line_and_the_state() -> None:
    words = crash_command_line(KEXEC_CMD)
    assert words[0].startswith("BOOT_IMAGE=") and words[-1] == "usbcore.nousb"
    assert crash_command_line("no kexec command recorded") == []
    assert state_line("DUMP_MODE:\tkdump\ncurrent state:    ready to kdump\n") == "ready to kdump"
    assert state_line("current state:    Not ready to kdump\n") == "Not ready to kdump"


def _frame(name: str, text: str) -> str:
    import base64

    return f"LAYOUTC-BEGIN {name}\n{base64.b64encode(text.encode()).decode()}\nLAYOUTC-END {name}\n"


def test_arm_facts_pass_on_a_loaded_kdump_tools_and_fail_on_not_ready() -> None:
    unit = "Id=kdump-tools.service\nActiveState=active\nResult=success\nExecMainStatus=0\n"
    ready = "current state:    ready to kdump\n"
    log = ("LAYOUTC-START 6.1\n" + _frame("kdump-unit", unit) + _frame("kdump-show", ready)
           + _frame("kdump-kexec-cmd", KEXEC_CMD) + _frame("kexec_crash_size", "318767104\n")
           + _frame("kexec_crash_loaded", "1\n"))  # fmt: skip
    facts = arm_facts(parse_serial(log.encode()), sh_values(DEFAULT), 304 << 20)
    assert [f.status for f in facts] == ["pass", "pass", "pass", "pass", "info"], facts
    bad = log.replace(_frame("kdump-show", "current state:    ready to kdump\n"),
                      _frame("kdump-show", "current state:    Not ready to kdump\n"))  # fmt: skip
    assert arm_facts(parse_serial(bad.encode()), sh_values(DEFAULT), 304 << 20)[1].status == "fail"


def test_collector_fact_reads_kdump_configs_console_line() -> None:
    console = (
        "[  9.1] kdump-tools[301]:  * running makedumpfile --dump-dmesg /proc/vmcore /var/crash/1/dmesg.1\n"
        "[  9.5] kdump-tools[301]:  * running makedumpfile -c -d 31 -F /proc/vmcore | compress > x\n"
    )
    assert collector_fact(console, sh_values(DEFAULT)).status == "pass"
    assert collector_fact(console + "makedumpfile failed, falling back to 'cp'\n", sh_values(DEFAULT)).status == "fail"


def test_split_boots_cuts_at_each_stage_run() -> None:
    serial = b"GRUB\nLAYOUTC-START 6.1\nA\ncrash console\nGRUB\nLAYOUTC-START 6.1\nB\nLAYOUTC-DONE\n"
    parts = kdump_cycle.split_boots(serial)
    assert len(parts) == 2 and b"crash console" in parts[0] and parts[1].endswith(b"LAYOUTC-DONE\n")
    assert kdump_cycle.split_boots(b"no stage") == []


def test_stage_files_and_the_kdump_stage_passes_shellcheck(tmp_path: Path) -> None:
    files = kdump_cycle.stage_files()
    assert sorted(files) == ["lab/plan", "lab/stages/00-common", "lab/stages/01-settle-rearm", "lab/stages/70-system",
                             "lab/stages/80-kdump-tools"]  # fmt: skip
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed; run sh scripts/bootstrap.sh --all")
    path = Path(build.__file__).parent / "sh" / "kdump" / "80-kdump-tools.sh"
    done = subprocess.run([shellcheck, "--shell=sh", "--severity=style", str(path)], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def _btf(structs: dict[str, list[tuple[str, int]]]) -> bytes:
    """A BTF blob (include/uapi/linux/btf.h): an INT (kind 1, 4 trailing bytes), then one STRUCT per entry."""
    import struct

    strings = b"\0"

    def off(name: str) -> int:
        nonlocal strings
        at = len(strings)
        strings += name.encode() + b"\0"
        return at

    types = struct.pack("<IIII", off("int"), 1 << 24, 4, 32)
    for sname, members in structs.items():
        types += struct.pack("<III", off(sname), (4 << 24) | len(members), 64)
        types += b"".join(struct.pack("<III", off(m), 1, bits) for m, bits in members)
    return struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings)) + types + strings


def test_btf_struct_members_are_byte_offsets() -> None:
    from layoutc.lab.system.kdump_tasks import struct_members

    btf = _btf({"list_head": [("next", 0), ("prev", 64)], "task_struct": [("pid", 8 * 1432), ("tasks", 8 * 1160),
                                                                           ("comm", 8 * 1864)]})  # fmt: skip
    assert struct_members(btf, "task_struct") == {"pid": 1432, "tasks": 1160, "comm": 1864}
    with pytest.raises(KeyError):
        struct_members(btf, "mm_struct")
    with pytest.raises(ValueError, match="not BTF"):
        struct_members(b"\0" * 24, "task_struct")


def test_diverted_fact_tells_the_distributions_makedumpfile_from_layoutcs_dumper() -> None:
    dmesg = (
        "kdump-tools[248]: running makedumpfile --dump-dmesg /proc/vmcore /var/crash/1/dmesg.1\n"
        "kdump-tools[248]: The kernel version is not supported.\nkdump-tools[248]: makedumpfile Completed.\n"
    )
    run = "kdump-tools[232]: running makedumpfile -c -d 31 -F /proc/vmcore | compress > /var/crash/1/dump-incomplete\n"
    saved = "kdump-tools[232]: kdump-tools: saved vmcore in /var/crash/1.\n"
    banner = "kdump-tools[252]: The kernel version is not supported.\nkdump-tools[252]: makedumpfile Completed.\n"
    theirs = dmesg + run + banner + saved
    assert diverted_fact(theirs).status == "fail"
    assert diverted_fact(dmesg + run + saved).status == "pass"  # the dmesg run stays the distribution's
    assert diverted_fact(dmesg).status == "fail"  # no vmcore run at all
