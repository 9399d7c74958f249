"""Malformed captures give exact-text diagnostics (file:line:col, the bad text, the rule, a fix)."""

# ruff: noqa: E501  (the expected messages are kept whole, one rendered line per string)

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from layoutc.diagnostics.diagnostic import Diagnostics, render_text
from layoutc.importer import import_profile, read_sysinfo
from layoutc.importer.capture import parse_capture
from layoutc.importer.captured_cmdline import memparse, parse_cmdline
from layoutc.importer.dmesg import parse_dmesg
from layoutc.importer.iomem import parse_iomem
from layoutc.importer.lsmem import parse_lsmem_json, parse_lsmem_text
from layoutc.importer.sysinfo_document import decode_sysinfo
from layoutc.importer.zoneinfo import parse_zoneinfo
from layoutc.model.profile import Strategy

CASES: list[tuple[str, Callable[[str, str, Diagnostics], Any], str, str, str]] = [
    (
        "iomem_no_colon",
        parse_iomem,
        "00000000-00000fff : Reserved\n00001000-0009fbff System RAM\n",
        "iomem",
        (
            "dev/iomem:2:1: error[LC402]: not a resource line: '00001000-0009fbff System RAM'\n"
            "  = rule: /proc/iomem lines are 'START-END : NAME' in hex, inclusive END, two spaces of indent per nesting level (kernel/resource.c r_show)\n"
            "  = hint: expected 'START-END : NAME' with hex START and END\n"
        ),
    ),
    (
        "iomem_odd_indent",
        parse_iomem,
        "000f0000-000fffff : Reserved\n   000f0000-000fffff : System ROM\n",
        "iomem",
        (
            "dev/iomem:2:1: error[LC402]: odd indent (3 spaces): '   000f0000-000fffff : System ROM'\n"
            "  = rule: /proc/iomem lines are 'START-END : NAME' in hex, inclusive END, two spaces of indent per nesting level (kernel/resource.c r_show)\n"
            "  = hint: nesting is two spaces per level\n"
        ),
    ),
    (
        "iomem_reversed",
        parse_iomem,
        "00002000-00001000 : System RAM\n",
        "iomem",
        (
            "dev/iomem:1:10: error[LC402]: end 0x1000 is below start 0x2000\n"
            "  = rule: /proc/iomem lines are 'START-END : NAME' in hex, inclusive END, two spaces of indent per nesting level (kernel/resource.c r_show)\n"
            "  = hint: iomem ends are inclusive and not below the start\n"
        ),
    ),
    (
        "iomem_depth_jump",
        parse_iomem,
        "000f0000-000fffff : Reserved\n    000f0000-000fffff : System ROM\n",
        "iomem",
        (
            "dev/iomem:2:1: error[LC402]: resource nested 2 levels deep under a resource 0 deep: '    000f0000-000fffff : System ROM'\n"
            "  = rule: /proc/iomem lines are 'START-END : NAME' in hex, inclusive END, two spaces of indent per nesting level (kernel/resource.c r_show)\n"
            "  = hint: each level is indented by two spaces more than its parent\n"
        ),
    ),
    (
        "iomem_no_root",
        parse_iomem,
        "00000000-00000000 : Reserved\n00000000-00000000 : System RAM\n",
        "iomem",
        (
            "dev/iomem:1:1: error[LC409]: every address in /proc/iomem is zero: it was read without root\n"
            "  = rule: /proc/iomem shows zero addresses to readers without CAP_SYS_ADMIN (kernel/resource.c)\n"
            "  = hint: capture it again as root (sudo cat /proc/iomem, or sudo layoutc probe)\n"
        ),
    ),
    (
        "lsmem_json_syntax",
        parse_lsmem_json,
        '{"memory": [\n {"range": "0x0-0x7ffffff",}\n]}\n',
        "lsmem.json",
        (
            "dev/lsmem.json:2:28: error[LC403]: not JSON: Expecting property name enclosed in double quotes\n"
            "  = rule: lsmem rows are RANGE 0xSTART-0xEND (inclusive, block-granular) with SIZE, STATE, REMOVABLE, BLOCK, NODE, ZONES columns (util-linux sys-utils/lsmem.c)\n"
            "  = hint: capture with: lsmem -J -b -o RANGE,SIZE,STATE,REMOVABLE,BLOCK,NODE,ZONES\n"
        ),
    ),
    (
        "lsmem_json_size",
        parse_lsmem_json,
        '{"memory": [\n {"range": "0x0000000000000000-0x0000000007ffffff", "size": 1}\n]}\n',
        "lsmem.json",
        (
            "dev/lsmem.json:2:1: error[LC403]: memory[0].size: 1 is not the range's length (134217728) or a human size\n"
            "  = rule: lsmem rows are RANGE 0xSTART-0xEND (inclusive, block-granular) with SIZE, STATE, REMOVABLE, BLOCK, NODE, ZONES columns (util-linux sys-utils/lsmem.c)\n"
            "  = hint: capture with lsmem -J -b (util-linux 2.33 or newer)\n"
        ),
    ),
    (
        "lsmem_text_cells",
        parse_lsmem_text,
        "RANGE SIZE STATE REMOVABLE BLOCK\n0x0000000000000000-0x0000000007ffffff 128M online\n",
        "lsmem.txt",
        (
            "dev/lsmem.txt:2:1: error[LC403]: 3 cells for 5 columns: '0x0000000000000000-0x0000000007ffffff 128M online'\n"
            "  = rule: lsmem rows are RANGE 0xSTART-0xEND (inclusive, block-granular) with SIZE, STATE, REMOVABLE, BLOCK, NODE, ZONES columns (util-linux sys-utils/lsmem.c)\n"
            "  = hint: columns: RANGE SIZE STATE REMOVABLE BLOCK\n"
        ),
    ),
    (
        "lsmem_text_state",
        parse_lsmem_text,
        "RANGE SIZE STATE REMOVABLE BLOCK\n0x0000000000000000-0x0000000007ffffff 128M sleepy yes 0\n",
        "lsmem.txt",
        (
            "dev/lsmem.txt:2:44: error[LC403]: STATE: 'sleepy' in '0x0000000000000000-0x0000000007ffffff 128M sleepy yes 0'\n"
            "  = rule: lsmem rows are RANGE 0xSTART-0xEND (inclusive, block-granular) with SIZE, STATE, REMOVABLE, BLOCK, NODE, ZONES columns (util-linux sys-utils/lsmem.c)\n"
            "  = hint: see the STATE column of lsmem(1)\n"
        ),
    ),
    (
        "lsmem_text_range",
        parse_lsmem_text,
        "RANGE SIZE STATE REMOVABLE BLOCK\n0x0000000008000000-0x0000000000000fff 128M online yes 0\n",
        "lsmem.txt",
        (
            "dev/lsmem.txt:2:1: error[LC403]: RANGE '0x0000000008000000-0x0000000000000fff' is not 0xSTART-0xEND with END >= START\n"
            "  = rule: lsmem rows are RANGE 0xSTART-0xEND (inclusive, block-granular) with SIZE, STATE, REMOVABLE, BLOCK, NODE, ZONES columns (util-linux sys-utils/lsmem.c)\n"
            "  = hint: lsmem prints 0x%016x-0x%016x, inclusive end\n"
        ),
    ),
    (
        "lsmem_text_header",
        parse_lsmem_text,
        "0x0000000000000000-0x0000000007ffffff 128M online yes 0\n",
        "lsmem.txt",
        (
            "dev/lsmem.txt:1:1: error[LC403]: no header line starting with RANGE\n"
            "  = rule: lsmem rows are RANGE 0xSTART-0xEND (inclusive, block-granular) with SIZE, STATE, REMOVABLE, BLOCK, NODE, ZONES columns (util-linux sys-utils/lsmem.c)\n"
            "  = hint: capture with: lsmem -o RANGE,SIZE,STATE,REMOVABLE,BLOCK,NODE,ZONES --split NODE,ZONES\n"
        ),
    ),
    (
        "zoneinfo_counter",
        parse_zoneinfo,
        "Node 0, zone      DMA\n  pages free     3712\n        spanned  lots\n",
        "zoneinfo",
        (
            "dev/zoneinfo:3:18: error[LC405]: spanned is not a number: 'spanned  lots'\n"
            "  = rule: /proc/zoneinfo has 'Node N, zone NAME' headers with spanned/present/managed/start_pfn counters (mm/vmstat.c zoneinfo_show_print)\n"
            "  = hint: zoneinfo counters are decimal page counts\n"
        ),
    ),
    (
        "zoneinfo_header",
        parse_zoneinfo,
        "Node x, zone      DMA\n",
        "zoneinfo",
        (
            "dev/zoneinfo:1:1: error[LC405]: not a zone header: 'Node x, zone      DMA'\n"
            "  = rule: /proc/zoneinfo has 'Node N, zone NAME' headers with spanned/present/managed/start_pfn counters (mm/vmstat.c zoneinfo_show_print)\n"
            "  = hint: zone headers read 'Node 0, zone   Normal'\n"
        ),
    ),
    (
        "zoneinfo_truncated",
        parse_zoneinfo,
        "Node 0, zone      DMA\n        spanned  4095\n        present  3998\n        managed  3840\n",
        "zoneinfo",
        (
            "dev/zoneinfo:1:1: error[LC405]: zone DMA of node 0 has no start_pfn line\n"
            "  = rule: /proc/zoneinfo has 'Node N, zone NAME' headers with spanned/present/managed/start_pfn counters (mm/vmstat.c zoneinfo_show_print)\n"
            "  = hint: capture the whole of /proc/zoneinfo (is the file cut short?)\n"
        ),
    ),
    (
        "dmesg_e820_type",
        parse_dmesg,
        "[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n[    0.000000] BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] weird\n",
        "dmesg",
        (
            "dev/dmesg:2:16: error[LC406]: unknown e820 type 'weird': '[    0.000000] BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] weird'\n"
            "  = rule: dmesg lines are matched by their prefix (BIOS-e820:, ACPI: SRAT:, Movable zone start, crashkernel ...); a line with a known prefix must have the kernel's format\n"
            "  = hint: known: ACPI NVS, ACPI data, Soft Reserved, System RAM, device reserved, persistent (type 12), persistent (type 7), protected (type 12), reserved, soft reserved, unusable, usable\n"
        ),
    ),
    (
        "dmesg_e820_shape",
        parse_dmesg,
        "[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff]\n",
        "dmesg",
        (
            "dev/dmesg:1:16: error[LC406]: malformed BIOS-e820 line: '[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff]'\n"
            "  = rule: dmesg lines are matched by their prefix (BIOS-e820:, ACPI: SRAT:, Movable zone start, crashkernel ...); a line with a known prefix must have the kernel's format\n"
            "  = hint: expected 'BIOS-e820: [mem 0xSTART-0xEND] TYPE'\n"
        ),
    ),
    (
        "dmesg_srat",
        parse_dmesg,
        "[    0.000000] ACPI: SRAT: Node 0 PXM 0 [mem 0x00000000-]\n",
        "dmesg",
        (
            "dev/dmesg:1:16: error[LC406]: malformed SRAT memory affinity line: '[    0.000000] ACPI: SRAT: Node 0 PXM 0 [mem 0x00000000-]'\n"
            "  = rule: dmesg lines are matched by their prefix (BIOS-e820:, ACPI: SRAT:, Movable zone start, crashkernel ...); a line with a known prefix must have the kernel's format\n"
            "  = hint: expected 'ACPI: SRAT: Node N PXM P [mem 0xS-0xE]'\n"
        ),
    ),
    (
        "dmesg_crash",
        parse_dmesg,
        "[    0.000000] crashkernel reserved: 0x00000000ab000000 - 0x00000000bb000000\n",
        "dmesg",
        (
            "dev/dmesg:1:16: error[LC406]: malformed crashkernel message: '[    0.000000] crashkernel reserved: 0x00000000ab000000 - 0x00000000bb000000'\n"
            "  = rule: dmesg lines are matched by their prefix (BIOS-e820:, ACPI: SRAT:, Movable zone start, crashkernel ...); a line with a known prefix must have the kernel's format\n"
            "  = hint: expected 'crashkernel reserved: 0xS - 0xE (N MB)'\n"
        ),
    ),
    (
        "cmdline_quote",
        parse_cmdline,
        'console=ttyS0 dyndbg="file x.c +p\n',
        "cmdline",
        (
            "dev/cmdline:1:22: error[LC408]: unterminated double quote in the cmdline: 'console=ttyS0 dyndbg=\"file x.c +p'\n"
            "  = rule: the kernel splits its cmdline at spaces outside double quotes (lib/cmdline.c next_arg), sizes are memparse() numbers, and 'uname -r' prints one release string starting MAJOR.MINOR\n"
            "  = hint: the kernel groups text between double quotes; close the quote\n"
        ),
    ),
    (
        "cmdline_memmap",
        parse_cmdline,
        "console=ttyS0 memmap=256M!x130000000\n",
        "cmdline",
        (
            "dev/cmdline:1:15: error[LC408]: malformed memmap= entry: 'memmap=256M!x130000000'\n"
            "  = rule: the kernel splits its cmdline at spaces outside double quotes (lib/cmdline.c next_arg), sizes are memparse() numbers, and 'uname -r' prints one release string starting MAJOR.MINOR\n"
            "  = hint: memmap=SIZE[@#$!]START, memmap=SIZE, memmap=exactmap (docs/reference/kernel-rules.md §3.1)\n"
        ),
    ),
]


@pytest.mark.parametrize(("name", "parse", "text", "file", "expected"), CASES, ids=[c[0] for c in CASES])
def test_parser_reports_exact_text(
    name: str, parse: Callable[[str, str, Diagnostics], Any], text: str, file: str, expected: str
) -> None:
    diags = Diagnostics()
    assert parse(text, f"dev/{file}", diags) is None
    assert render_text(diags) == expected


IOMEM = "00001000-0009fbff : System RAM\n"


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (
            {"iomem": IOMEM, "block_size_bytes": "0x8000000\n"},
            "dev/block_size_bytes:1:1: error[LC404]: '0x8000000' is not a power-of-two hex number\n"
            "  = rule: block_size_bytes is hex without 0x, a power of two (drivers/base/memory.c, docs/reference/kernel-rules.md §4.1)\n"
            "  = hint: block_size_bytes holds hex without 0x, e.g. 8000000 for 128 MiB\n",
        ),
        (
            {"iomem": IOMEM, "block_size_bytes": "6000000\n"},
            "dev/block_size_bytes:1:1: error[LC404]: '6000000' is not a power-of-two hex number\n"
            "  = rule: block_size_bytes is hex without 0x, a power of two (drivers/base/memory.c, docs/reference/kernel-rules.md §4.1)\n"
            "  = hint: block_size_bytes holds hex without 0x, e.g. 8000000 for 128 MiB\n",
        ),
        (
            {"iomem": IOMEM, "uname-r": "Linux 6.1\n"},
            "dev/uname-r:1:1: error[LC408]: uname-r is not one release string: 'Linux 6.1'\n"
            "  = rule: the kernel splits its cmdline at spaces outside double quotes (lib/cmdline.c next_arg), "
            "sizes are memparse() numbers, and 'uname -r' prints one release string starting MAJOR.MINOR\n"
            "  = hint: capture the output of 'uname -r'\n",
        ),
    ],
)
def test_capture_files_report_exact_text(texts: dict[str, str], expected: str) -> None:
    diags = Diagnostics()
    assert parse_capture(texts, "dev", diags) is None
    assert render_text(diags) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{\n  "format": "layoutc-sysinfo/1",\n  oops\n}\n',
            "dev.json:3:3: error[LC407]: not JSON: Expecting property name enclosed in double quotes\n"
            "  = rule: SysInfo JSON is the object 'layoutc probe' prints (format layoutc-sysinfo/1)\n"
            "  = hint: pass the output of 'layoutc probe', or a raw capture directory\n",
        ),
        (
            '{"format": "layoutc-sysinfo/9"}\n',
            'dev.json:1:1: error[LC420]: format: "layoutc-sysinfo/9" is not layoutc-sysinfo/1\n'
            "  = rule: SysInfo JSON carries 'format': 'layoutc-sysinfo/1'\n"
            "  = hint: probe the device again with this version of layoutc\n",
        ),
        (
            '{"format": "layoutc-sysinfo/1", "iomem": [{"start": "0x0", "end": 4096, "name": "x", "depth": 0}]}',
            "dev.json:1:1: error[LC407]: $.iomem[0].end: expected a lower-case 0x hex string, got 4096\n"
            "  = rule: SysInfo JSON is the object 'layoutc probe' prints (format layoutc-sysinfo/1)\n"
            "  = hint: pass the output of 'layoutc probe' unchanged\n",
        ),
    ],
)
def test_sysinfo_json_reports_exact_text(text: str, expected: str) -> None:
    diags = Diagnostics()
    assert decode_sysinfo(text, "dev.json", diags) is None
    assert render_text(diags) == expected


def test_missing_sysinfo(tmp_path: Path) -> None:
    diags = Diagnostics()
    assert read_sysinfo(tmp_path / "nope", diags, display="nope") is None
    assert render_text(diags) == (
        "error[LC401]: no such file or directory: nope\n"
        "  = rule: a SYSINFO is probe's JSON file or a directory of raw captures with at least 'iomem' (or, for a block-granular map, 'lsmem.json'/'lsmem.txt')\n"
        "  = hint: pass probe's JSON output or a directory of raw captures (iomem, lsmem.json, ...)\n"
    )


def test_directory_without_iomem(tmp_path: Path) -> None:
    (tmp_path / "cmdline").write_text("console=ttyS0\n")
    diags = Diagnostics()
    assert read_sysinfo(tmp_path, diags, display="dev") is None
    assert render_text(diags) == (
        "error[LC401]: dev has no 'iomem' (nor an lsmem.json/lsmem.txt to fall back on)\n"
        "  = rule: a SYSINFO is probe's JSON file or a directory of raw captures with at least 'iomem' (or, for a block-granular map, 'lsmem.json'/'lsmem.txt')\n"
        "  = hint: capture /proc/iomem as root into 'iomem', or run 'layoutc probe --raw DIR' on the device\n"
    )


def test_binary_capture_file(tmp_path: Path) -> None:
    (tmp_path / "iomem").write_bytes(b"00000000-00000fff : Reserved\n\x00\x01\x02")
    diags = Diagnostics()
    assert read_sysinfo(tmp_path, diags, display="dev") is None
    assert render_text(diags) == (
        "dev/iomem:2:1: error[LC401]: dev/iomem holds NUL bytes; it is not a text capture\n"
        "  = rule: a SYSINFO is probe's JSON file or a directory of raw captures with at least 'iomem' (or, for a block-granular map, 'lsmem.json'/'lsmem.txt')\n"
        "  = hint: capture the file again as text (cat /proc/...)\n"
    )


def test_no_kernel_version(tmp_path: Path) -> None:
    (tmp_path / "iomem").write_text(IOMEM)
    diags = Diagnostics()
    info = read_sysinfo(tmp_path, diags, display="dev")
    assert info is not None
    assert import_profile(info, "b", Strategy.PMEM_MOVABLE, diags) is None
    assert render_text(diags) == (
        "error[LC410]: the capture has no kernel version (no uname-r, no 'Linux version' in dmesg)\n"
        "  = rule: profiles need kernel.version; it comes from uname-r or dmesg 'Linux version'\n"
        "  = hint: add the output of 'uname -r' as uname-r\n"
    )


def test_memparse_reads_c_numbers() -> None:
    assert memparse("64M$0x8000000") == (64 << 20, "$0x8000000")
    assert memparse("0x130000000") == (0x130000000, "")
    assert memparse("010k") == (8 << 10, "")
    assert memparse("x") is None


def test_ten_megabytes_of_junk_is_one_short_report(tmp_path: Path) -> None:
    import time

    (tmp_path / "iomem").write_bytes(b"junk junk junk junk\n" * 500_000)
    (tmp_path / "lsmem.txt").write_bytes(b"RANGE SIZE\n" + b"junk\n" * 2_000_000)
    diags = Diagnostics()
    started = time.monotonic()
    assert read_sysinfo(tmp_path, diags, display="dev") is None
    assert time.monotonic() - started < 2.0
    assert [d.code for d in diags.items] == ["LC402"] * 21 + ["LC403"] * 21
    assert diags.items[20].message == "more than 20 malformed lines; stopped reading at line 21"


def test_deeply_nested_json(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 20_000 + "]" * 20_000)
    diags = Diagnostics()
    assert read_sysinfo(path, diags, display="deep.json") is None
    assert [d.message for d in diags] == ["JSON nested too deeply"]
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "lsmem.json").write_text('{"memory": ' + "[" * 20_000 + "]" * 20_000 + "}")
    diags = Diagnostics()
    assert read_sysinfo(tmp_path / "dir", diags, display="dir") is None
    assert [(d.code, d.message) for d in diags] == [("LC403", "JSON nested too deeply")]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            '{"format": "layoutc-sysinfo/1", "iomem": [{"start": "0x1000", "end": "0x1000", "name": "x", "depth": 0}]}',
            '$.iomem[0].end: expected an end above start (0x1000), got "0x1000"',
        ),
        (
            '{"format": "layoutc-sysinfo/1", "dmesg": {"e820": [{"start": "0x0", "end": "0x1000", "kind": "ROM", '
            '"label": "x"}]}}',
            '$.dmesg.e820[0].kind: expected one of ram, reserved, acpi, nvs, unusable, pmem, got "ROM"',
        ),
    ],
)
def test_sysinfo_json_meaning_is_checked(doc: str, expected: str) -> None:
    diags = Diagnostics()
    assert decode_sysinfo(doc, "x.json", diags) is None
    assert [f"{d.path}: {d.message}" for d in diags] == [expected]
