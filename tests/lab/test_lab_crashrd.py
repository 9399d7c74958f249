"""The crash initramfs's interpreter ships the codec the filter spec names (lab/image/crashrd.py, lab/image/pyrt.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from layoutc.lab.errors import LabError
from layoutc.lab.facts import dumpcheck
from layoutc.lab.image import crashrd, pyrt

needs_zstd = pytest.mark.skipif(
    not pyrt.PYTHON.is_file() or not (Path(pyrt.DIST) / "zstandard").is_dir(),
    reason="needs /usr/bin/python3.11 and python3-zstandard (scripts/bootstrap.sh --all installs both)",
)


def _device(tmp_path: Path, compression: str) -> Path:
    (tmp_path / "filter.json").write_text(json.dumps({"schema_version": 1, "compression": compression}))
    return tmp_path


@pytest.mark.parametrize(
    ("compression", "packages"), [("zstd", ("zstandard",)), ("lzo", ("lzo",)), ("zlib", ()), ("none", ())]
)
def test_codec_packages_follow_the_filter_spec(tmp_path: Path, compression: str, packages: tuple[str, ...]) -> None:
    assert crashrd.codec_packages(_device(tmp_path, compression)) == packages


def test_codec_packages_without_a_filter_spec(tmp_path: Path) -> None:
    assert crashrd.codec_packages(tmp_path) == ()


@pytest.mark.skipif(not pyrt.PYTHON.is_file(), reason="needs /usr/bin/python3.11")
def test_missing_package_names_the_debian_package(tmp_path: Path) -> None:
    pyz = crashrd.build_zipapp(tmp_path / "dump.pyz")
    with pytest.raises(LabError, match=r"nosuchcodec not in /usr/lib/python3/dist-packages \(Debian: python3-nosuch"):
        crashrd.python_files(pyz, ("nosuchcodec",))


@needs_zstd
def test_shipped_interpreter_compresses_with_zstd(tmp_path: Path) -> None:
    """Unpack the files the crash initramfs gets and run its interpreter on them: zstandard imports from the
    shipped sourceless .pyc and C extension (not the host's), and compresses a page as the dumper does."""
    pyz = crashrd.build_zipapp(tmp_path / "dump.pyz")
    files = crashrd.python_files(pyz, crashrd.codec_packages(_device(tmp_path, "zstd")))
    assert "usr/lib/python3/dist-packages/zstandard/__init__.pyc" in files
    assert not [k for k in files if k.endswith(".py")]  # sourceless
    assert any(k.endswith("/libzstd.so.1") for k in files)
    assert not [k for k in files if "cffi" in k]  # only what importing zstandard loads (its C backend)
    root = tmp_path / "root"
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "usr/bin/python3").chmod(0o755)
    code = (
        "import zstandard; from layoutc.dump.write import compression; c = compression.lookup('zstd'); "
        "print(zstandard.__file__, c.name, len(c.compress(bytes(4096))) < 64)"
    )
    proc = subprocess.run(
        [str(root / "usr/bin/python3"), "-c", f"import sys; sys.path.insert(0, {str(pyz)!r}); {code}"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, cwd="/", timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    shipped, name, small = proc.stdout.split()
    assert shipped == str(root / "usr/lib/python3/dist-packages/zstandard/__init__.pyc")
    assert (name, small) == ("zstd", "True")


@pytest.mark.parametrize(("status", "name"), [(0x1, "zlib"), (0x20, "zstd"), (0x2, "lzo"), (0x4, "snappy"),
                                             (0x0, "none"), (0x8 | 0x20, "zstd")])  # fmt: skip
def test_kdump_status_names_the_codec(status: int, name: str) -> None:
    assert dumpcheck.compression(status) == name


def test_the_crash_interpreter_ships_every_module_the_dumper_imports() -> None:
    """An ast scan, not a hand list: a module the dumper starts importing (signal, for the stop
    handler) reaches the crash initramfs without anyone updating a table."""
    imports = crashrd.dumper_imports()
    assert {"signal", "mmap", "zlib", "struct", "json"} <= set(imports)
    assert not [name for name in imports if name.startswith(("layoutc", "numpy", "multiprocessing"))]


@pytest.mark.skipif(not pyrt.PYTHON.is_file(), reason="needs /usr/bin/python3.11")
def test_the_dumper_runs_on_the_shipped_modules_alone(tmp_path: Path) -> None:
    """The zipapp's --help under the interpreter with only the shipped stdlib (as in the crash kernel)."""
    pyz = crashrd.build_zipapp(tmp_path / "dump.pyz")
    files = pyrt.python_files(crashrd.imported_modules(pyz))
    root = tmp_path / "root"
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "usr/bin/python3").chmod(0o755)
    code = "import runpy, sys; sys.argv = ['dump.pyz', '--help']; import layoutc.dump.interrupt"
    argv = [str(root / "usr/bin/python3"), "-c", f"import sys; sys.path.insert(0, {str(pyz)!r}); {code}"]
    proc = subprocess.run(argv, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, cwd="/", timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
