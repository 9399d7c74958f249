"""The command line: exit codes, footprint (no compiler imports), zipapp, progress."""

from __future__ import annotations

import ast
import json
import marshal
import os
import subprocess
import sys
import zipfile
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from typing import Any

import kdump_layout
import pytest

from conftest import SRC, run_dump
from layoutc.dump.__main__ import main

DUMP_PKG = SRC / "layoutc" / "dump"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["--compress", "lz4", "a", "b"]) == 2
    assert main(["--dump-level", "99", "a", "b"]) == 2
    assert main(["--budget", "lots", "a", "b"]) == 2
    assert "SOURCE and OUTPUT are required" in capsys.readouterr().err


def test_help_exits_0() -> None:
    proc = run_dump("--help")
    assert proc.returncode == 0
    assert b"exit codes" in proc.stdout


def test_missing_source_and_bad_spec_exit_1(tmp_path: Path, make_vmcore: Any) -> None:
    proc = run_dump(str(tmp_path / "nope"), str(tmp_path / "out"))
    assert proc.returncode == 1
    assert b"No such file or directory" in proc.stderr
    _, src = make_vmcore()
    bad = tmp_path / "spec.json"
    bad.write_text('{"schema_version": 1, "dump_levle": 3}')
    proc = run_dump("--spec", str(bad), src, str(tmp_path / "out"))
    assert proc.returncode == 1
    assert b"unknown property 'dump_levle' (did you mean 'dump_level'?)" in proc.stderr


def test_flags_override_the_spec(tmp_path: Path, make_vmcore: Any) -> None:
    _, src = make_vmcore()
    s = tmp_path / "spec.json"
    s.write_text('{"schema_version": 1, "dump_level": 0, "compression": "none", "format": "elf"}')
    out = tmp_path / "out"
    assert (
        run_dump(
            "--spec", str(s), "--format", "kdump", "--compress", "zlib", "--dump-level", "1", src, str(out)
        ).returncode
        == 0
    )
    kd = kdump_layout.read(str(out))
    assert kd.status == 1 and kd.sub[1] == 1  # zlib, dump_level 1


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


def test_dump_package_imports_nothing_else_from_layoutc() -> None:
    for path in DUMP_PKG.glob("*.py"):
        for name in imports_of(path):
            assert not name.startswith("layoutc") or name.startswith("layoutc.dump"), (path.name, name)
            assert not name.startswith(".."), (path.name, name)


def test_startup_imports_no_compiler_module(tmp_path: Path, make_vmcore: Any) -> None:
    _, src = make_vmcore()
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "layoutc.dump", "--quiet", src, str(tmp_path / "out")],
        capture_output=True,
        env=dict(os.environ, PYTHONPATH=str(SRC)),
    )
    assert proc.returncode == 0, proc.stderr.decode()
    modules = {line.split("|")[-1].strip() for line in proc.stderr.decode().splitlines() if "|" in line}
    ours = {m for m in modules if m.startswith("layoutc")}
    assert ours and all(m == "layoutc" or m.startswith("layoutc.dump") for m in ours), ours
    for heavy in ("yaml", "jsonschema", "jinja2", "networkx", "multiprocessing"):
        assert heavy not in modules


def test_zipapp_runs_with_an_isolated_interpreter(tmp_path: Path, make_vmcore: Any) -> None:
    pyz = tmp_path / "dump.pyz"
    assert run_dump("--build-zipapp", str(pyz)).returncode == 0
    # the crash dumper alone (every crash initramfs carries it); the running system's tools are the other zipapp
    with zipfile.ZipFile(pyz) as z:
        assert {n.split("/")[1] for n in z.namelist() if n.count("/") > 1} == {"dump"}
        # every module's byte code is in the table, stored so that it need not be inflated; the generated package
        # has its .pyc (zipimport compiles what has none, at every start: 0.5 ms for layoutc/__init__.py alone)
        sources = {n[:-3] for n in z.namelist() if n.endswith(".py") and n != "__main__.py"} - {"layoutc/__init__"}
        magic, table = marshal.loads(z.read("layoutc/code.marshal"))
        assert magic == MAGIC_NUMBER and {rel[:-3] for _, rel, _ in table.values()} == sources
        assert {n for n in z.namelist() if n.endswith(".pyc")} == {"layoutc/__init__.pyc"}
        assert z.getinfo("layoutc/code.marshal").compress_type == zipfile.ZIP_STORED
    # a ceiling that catches an accidental dependency, not a budget: the sizing model counts the real file
    # (603 KB with the batch classifier's free-block path and mapped struct pages; 584 KB with the byte code as one
    # table; 568 KB with the workers writing their own payloads; 548 KB since
    # the byte code is stored, not deflated: 2 ms less start-up, and the crash initramfs compresses it anyway;
    # 303 KB with the kallsyms_seqs_of_names search, 293 KB before it; 288 KB with the kallsyms reader that holds
    # the kernel image back; 270 KB before it; 253 KB with the arm64 reader and the batch page classifier; 238 KB
    # before)
    assert pyz.stat().st_size < 640_000
    device = tmp_path / "layoutc-device.pyz"
    assert run_dump("--build-device-zipapp", str(device)).returncode == 0
    with zipfile.ZipFile(device) as z:
        assert {n.split("/")[1] for n in z.namelist() if n.count("/") > 1} == {"dump", "devicetree", "status"}
    assert device.stat().st_size < 790_000  # 780 KB, 778 KB before the encoder took each length once
    _, src = make_vmcore()
    spec = tmp_path / "spec.json"
    spec.write_text('{"schema_version": 1, "exclude": [{"start": 0, "end": 1048576, "reason": "low"}]}')
    out = tmp_path / "out"
    # -I: no PYTHONPATH, no user site, no script directory; -S: no site-packages at all.
    proc = subprocess.run(
        ["/usr/bin/python3", "-I", "-S", str(pyz), "--quiet", "--spec", str(spec), src, str(out)],
        capture_output=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert kdump_layout.read(str(out)).dumped[0] == 0x100


# Loaded by a dump as capture.sh runs it (zipapp.RUNNER) only at a cost of start-up, and not needed: runpy (running
# the archive as a script) and site, ctypes (a malloc tuning that no longer helps), pathlib, contextlib, the signal
# module's enums, typing, dataclasses, argparse (bench/dump/RESULTS.md, "Start-up"); importlib and with it warnings
# (the zstd backend is loaded with the loader classes importlib.machinery re-exports).
NOT_AT_START_UP = ("runpy", "site", "ctypes", "pathlib", "contextlib", "signal", "importlib", "importlib.util",
                   "warnings", "typing", "dataclasses", "argparse", "multiprocessing", "array",
                   "collections")  # fmt: skip


@pytest.mark.parametrize("codec", ["zlib", "zstd"])
def test_device_command_line_runs_the_dumper_with_few_imports(tmp_path: Path, make_vmcore: Any, codec: str) -> None:
    from layoutc.dump.zipapp import CRASH, RUNNER, build

    pyz = tmp_path / "dump.pyz"
    build(str(pyz), CRASH)
    _, src = make_vmcore()
    spec = tmp_path / "spec.json"
    low = {"start": 0, "end": 1048576, "reason": "low"}
    spec.write_text(json.dumps({"schema_version": 1, "dump_level": 31, "compression": codec, "exclude": [low]}))
    out = tmp_path / "out"
    proc = subprocess.run(
        ["/usr/bin/python3", "-X", "importtime", *RUNNER[1:], str(pyz), "--spec", str(spec), src, str(out)],
        capture_output=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
    )
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    assert "not available here" not in err  # the codec package is found without site (python3-zstandard)
    assert kdump_layout.read(str(out)).dumped[0] == 0x100
    modules = {line.split("|")[-1].strip() for line in err.splitlines() if line.startswith("import time:")}
    assert "layoutc.dump.dumper" in modules
    assert not modules & set(NOT_AT_START_UP), sorted(modules & set(NOT_AT_START_UP))


def test_zipapp_modules_come_from_the_table_unless_its_magic_is_foreign(tmp_path: Path, make_vmcore: Any) -> None:
    from layoutc.dump.zipapp import CRASH, RUNNER, build

    pyz = tmp_path / "dump.pyz"
    build(str(pyz), CRASH)
    foreign = tmp_path / "foreign.pyz"  # as an interpreter of another version sees it
    with zipfile.ZipFile(pyz) as src_zip, zipfile.ZipFile(foreign, "w") as out_zip:
        for info in src_zip.infolist():
            data = src_zip.read(info)
            if info.filename == "layoutc/code.marshal":
                data = marshal.dumps((b"\0\0\r\n", marshal.loads(data)[1]))
            out_zip.writestr(info, data)
    python = ["/usr/bin/python3", "-I", "-S", "-c"]
    probe = "import sys; sys.path.insert(0, sys.argv[1]); import layoutc.dump.dumper as d; print(type(d.__loader__))"
    _, src = make_vmcore()
    for archive, loader in ((pyz, "layoutc._Table"), (foreign, "zipimport.zipimporter")):
        got = subprocess.run([*python, probe, str(archive)], capture_output=True, text=True)
        assert got.stdout.strip() == f"<class '{loader}'>", got.stderr
        out = tmp_path / f"{archive.stem}.out"
        proc = subprocess.run([python[0], *RUNNER[1:], str(archive), "--quiet", src, str(out)], capture_output=True,
                              text=True)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "dump.out").read_bytes()[4096:] == (tmp_path / "foreign.out").read_bytes()[4096:]
    # a module's source, for a traceback or an inspecting tool, comes from the archive either way
    show = "import sys, inspect; sys.path.insert(0, sys.argv[1]); import layoutc.dump.extents as e"
    got = subprocess.run([*python, show + "; print(inspect.getsource(e.count))", str(pyz)], capture_output=True,
                         text=True)  # fmt: skip
    assert got.stdout.startswith("def count("), got.stderr
    # the table's modules keep their __future__ features as compiler flags, without importing __future__
    future = show + "; print('__future__' in sys.modules, set(map(type, e.count.__annotations__.values())))"
    got = subprocess.run([*python, future, str(pyz)], capture_output=True, text=True)
    assert got.stdout.strip() == "False {<class 'str'>}", got.stderr


def test_progress_when_asked(tmp_path: Path, make_vmcore: Any) -> None:
    _, src = make_vmcore()
    proc = subprocess.run(
        [sys.executable, "-m", "layoutc.dump", "--progress", src, str(tmp_path / "o")],
        capture_output=True,
        env=dict(os.environ, PYTHONPATH=str(SRC)),
    )
    err = proc.stderr.decode()
    assert proc.returncode == 0
    assert "dump: 100.0%" in err and "MB/s" in err and "ETA" in err
    quiet = run_dump(src, str(tmp_path / "o2"))  # stderr is a pipe, not a TTY: no progress
    assert b"MB/s" not in quiet.stderr


def test_workers_give_the_same_file(tmp_path: Path, make_vmcore: Any) -> None:
    _, src = make_vmcore()
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_dump(src, str(one)).returncode == 0
    assert run_dump("--workers", "2", src, str(two)).returncode == 0
    assert one.read_bytes() == two.read_bytes()


def test_capture_kernel_ram_is_excluded(tmp_path: Path, make_vmcore: Any) -> None:
    _, src = make_vmcore()
    iomem = tmp_path / "iomem"
    iomem.write_text(
        "00000000-00000fff : Reserved\n"
        "00100000-001fffff : System RAM\n"
        "  00100000-0010ffff : Kernel code\n"
        "fed00000-fed003ff : HPET 0\n"
    )
    out = tmp_path / "out"
    proc = run_dump("--iomem", str(iomem), src, str(out))
    assert proc.returncode == 0
    dumped = set(kdump_layout.read(str(out)).dumped)
    assert dumped.isdisjoint(range(0x100, 0x200)) and 0x200 in dumped


def test_excluded_range_the_source_lacks(tmp_path: Path, make_vmcore: Any) -> None:
    """A dump.exclude range that /proc/vmcore does not hold (the crash CMA ranges: kexec_file_load leaves
    them out of the elfcorehdr) excludes nothing and breaks nothing; one that overlaps present RAM only
    drops the pages it covers."""
    _, src = make_vmcore()  # standard(): no PT_LOAD in [0x500000, 0x600800)
    base = tmp_path / "base"
    assert run_dump(src, str(base)).returncode == 0
    baseline = kdump_layout.read(str(base))
    assert not set(baseline.present) & set(range(0x500, 0x600)), "the source lacks [0x500000, 0x600000)"
    for name, (start, end) in (("hole", (0x500000, 0x600000)), ("overlap", (0x500000, 0x700000))):
        dropped = set(baseline.dumped) & set(range(start // 4096, end // 4096))
        assert bool(dropped) == (name == "overlap")
        spec = tmp_path / f"{name}.json"
        spec.write_text(
            f'{{"schema_version": 1, "exclude": [{{"start": {start}, "end": {end}, "reason": "crash_cma"}}]}}'
        )
        out = tmp_path / name
        proc = run_dump("--spec", str(spec), src, str(out))
        assert proc.returncode == 0, proc.stderr.decode()
        kd = kdump_layout.read(str(out))
        assert kd.present == baseline.present, name
        assert set(kd.dumped) == set(baseline.dumped) - dropped, name


def test_zipapp_filters_page_classes_without_numpy(tmp_path: Path) -> None:
    import kernel_fixture

    pyz = tmp_path / "dump.pyz"
    assert run_dump("--build-zipapp", str(pyz)).returncode == 0
    kern = kernel_fixture.Kernel("6.12")
    fx = kern.fixture()
    src = fx.write(str(tmp_path / "vmcore"))
    out = tmp_path / "out"
    # -S: no site-packages, so no numpy: the standard-library struct-page scan runs.
    proc = subprocess.run(
        ["/usr/bin/python3", "-I", "-S", str(pyz), "--quiet", "--dump-level", "31", src, str(out)], capture_output=True
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert set(kdump_layout.read(str(out)).dumped) == kern.kept(fx, 31)


def test_the_device_runner_keeps_the_exit_code_and_the_words(tmp_path: Path, make_vmcore: Any) -> None:
    """zipapp.RUNNER ends the process at once after the dumper (no interpreter teardown): the exit code and what
    was printed still come out, stdout too, which a pipe makes block-buffered."""
    from layoutc.dump.zipapp import CRASH, RUNNER, build

    pyz = tmp_path / "dump.pyz"
    build(str(pyz), CRASH)
    device = ["/usr/bin/python3", *RUNNER[1:], str(pyz)]
    shown = subprocess.run([*device, "--help"], capture_output=True)
    assert shown.returncode == 0 and b"exit codes" in shown.stdout
    missing = subprocess.run([*device, str(tmp_path / "nope"), str(tmp_path / "out")], capture_output=True)
    assert missing.returncode == 1 and b"No such file or directory" in missing.stderr
    _, src = make_vmcore()
    done = subprocess.run([*device, src, str(tmp_path / "out")], capture_output=True)
    assert done.returncode == 0 and b"pages kept" in done.stderr
    assert kdump_layout.read(str(tmp_path / "out")).dumped


def test_zipapps_built_from_concurrent_threads_are_the_same() -> None:
    """The lab builds crash images from concurrent boot threads: the builder must not parse with ``ast``, which
    fails two conversions at once before CPython 3.11.5 (gh-106905), and gives the same bytes each time."""
    import threading

    from layoutc.dump.zipapp import CRASH, archive

    got: list[bytes | BaseException] = []

    def build() -> None:
        try:
            got.append(archive(CRASH))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            got.append(exc)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and all(isinstance(g, bytes) for g in got) and len(set(got)) == 1, got
    # the collision is rare in a test (it took the lab's boot threads in CI): the builder imports no ast at all
    import ast

    import layoutc.dump.zipapp as builder

    tree = ast.parse(Path(builder.__file__).read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert "ast" not in imported
