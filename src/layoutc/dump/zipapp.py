"""Pack layoutc's device-side packages into zipapps that run with a bare interpreter: two of them.

* ``dump.pyz`` (``CRASH``): ``layoutc.dump`` alone, the dumper that runs in the crash kernel's initramfs
  (``python3 dump.pyz --spec FILTER SOURCE OUTPUT``): small, since every crash initramfs carries it and the
  crash kernel's memory holds it.
* ``layoutc-device.pyz`` (``DEVICE``): the running system's tools, the dumper beside ``layoutc.devicetree``
  (arm64 devices have no dtc: arm.sh runs ``PYTHONPATH=layoutc-device.pyz python3 -m layoutc.devicetree
  apply ...`` to build the crash kernel's DTB, docs/devicetree.md) and ``layoutc.status``
  (``PYTHONPATH=layoutc-device.pyz python3 -m layoutc.status``, docs/status.md).

Each holds a generated ``layoutc/__init__.py``, its packages' modules and the filter-spec schema; ``python3
X.pyz`` runs the dumper in both. The packages import nothing of the compiler; their sources are found by
path, never imported here.  The byte code of every module, for the interpreter that built the archive, is one
marshalled table (``layoutc/code.marshal``, stored, not deflated): the generated ``__init__`` (:data:`TOP_INIT`,
itself with its unchecked-hash ``.pyc``) reads it once and puts a finder for its modules first on
``sys.meta_path``.  zipimport cannot cache byte code (compiling every module at each start cost about 30 ms),
and a ``.pyc`` member per module cost 4 ms of every start against the table: zipimport opens the archive and
runs its own Python code for each module (measured, bench/dump/RESULTS.md).  An interpreter of another version
sees a foreign magic number, leaves the table alone, and zipimport compiles the sources instead.

How a device runs the dumper (:data:`RUNNER`, capture.sh's command line): ``python3 -I -S -c BOOTSTRAP dump.pyz
ARGS``.  ``-I -S``: no environment variables, user site or site-packages (the codec packages are looked up
in the site directories by ``write.compression`` itself); ``-c`` with the archive put on ``sys.path``
instead of ``python3 dump.pyz``, which runs ``__main__`` through ``runpy`` and with it ``importlib.util``,
``contextlib``, ``collections`` and ``functools``: together about 6 ms of a dump's start-up, measured
(bench/dump/RESULTS.md).  ``python3 dump.pyz ARGS`` runs the same dumper.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import CodeType

from layoutc.dump.spec_schema import load_schema


@dataclass(frozen=True, slots=True)
class Zipapp:
    """One zipapp: its file name (installed in /usr/lib/layoutc) and the layoutc subpackages it carries."""

    name: str
    packages: tuple[str, ...]
    what: str


CRASH = Zipapp("dump.pyz", ("dump",), "the crash dumper")
DEVICE = Zipapp("layoutc-device.pyz", ("dump", "devicetree", "status"),
                "the device tools: the dumper, the device tree tool and the status")
PACKAGES = DEVICE.packages  # every device-side package
MAIN = "import sys\nfrom layoutc.dump.__main__ import run\nrun(sys.argv[1:])\n"
BOOTSTRAP = "import sys; sys.path.insert(0, sys.argv.pop(1)); from layoutc.dump.__main__ import run; run(sys.argv[1:])"
"""``python3 -c BOOTSTRAP ARCHIVE ARGS``: the dumper from ``ARCHIVE`` with ``ARGS``."""
RUNNER = ("python3", "-I", "-S", "-c", BOOTSTRAP)
"""The command line that runs a dumper zipapp, before the archive's path and the dumper's arguments."""
SHEBANG = b"#!/usr/bin/env python3\n"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip member can carry


TABLE = "code.marshal"
TOP_INIT = '''"""layoutc ({name}: {what}).

The modules' byte code comes from one marshalled table beside this file, when its magic number is this
interpreter's (layoutc.dump.zipapp); otherwise zipimport reads the sources."""


class _Table:
    """Finder and loader of the table's modules: name -> (is a package, path in the archive, code)."""

    def __init__(self, table, archive, zip_loader):
        self.table, self.archive, self.zip_loader = table, archive, zip_loader

    def find_spec(self, name, path=None, target=None):
        entry = self.table.get(name)
        if entry is None:
            return None
        from _frozen_importlib import ModuleSpec

        spec = ModuleSpec(name, self, origin=self.archive + "/" + entry[1], is_package=entry[0])
        spec.has_location = True
        if entry[0]:
            spec.submodule_search_locations = [spec.origin.rpartition("/")[0]]
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(self.table[module.__spec__.name][2], module.__dict__)

    def get_code(self, name):
        return self.table[name][2]

    def is_package(self, name):
        return self.table[name][0]

    def get_filename(self, name):
        return self.archive + "/" + self.table[name][1]

    def get_data(self, path):
        return self.zip_loader.get_data(path)

    def get_source(self, name):
        from zipimport import zipimporter

        folder, _, _ = self.get_filename(name).rpartition("/")
        return zipimporter(folder).get_source(name)


def _install():
    import marshal
    import sys
    from _frozen_importlib_external import MAGIC_NUMBER

    archive = __path__[0].rpartition("/")[0]
    try:
        magic, table = marshal.loads(__loader__.get_data(__path__[0] + "/{table}"))
    except (OSError, EOFError, ValueError, TypeError):
        return
    if magic == MAGIC_NUMBER:
        sys.meta_path.insert(0, _Table(table, archive, __loader__))


_install()
'''
"""The generated ``layoutc/__init__.py`` of a zipapp (``str.format`` fields: name, what, table)."""


def _code_table(members: list[tuple[str, bytes]]) -> bytes:
    """The marshalled table of the modules ``members`` (path in the archive, source): the interpreter's magic
    number, then module name -> (is a package, path, code object)."""
    import marshal
    from importlib.util import MAGIC_NUMBER

    table = {}
    for rel, source in members:
        name = rel[:-3].replace("/", ".")
        package = name.endswith(".__init__")
        table[name.removesuffix(".__init__")] = (package, rel, _compiled(source, rel))
    return marshal.dumps((MAGIC_NUMBER, table))


def _compiled(source: bytes, rel: str) -> CodeType:
    """The code of module ``source`` without its ``from __future__ import`` lines, whose features become
    compiler flags instead: as a statement it imports the ``__future__`` module (a file read and run, in every
    dump's start-up) to bind a name no module here uses. The lines are blanked, not parsed with ``ast``: the
    lab builds zipapps from concurrent threads, and CPython before 3.11.5 fails two AST conversions at once
    (gh-106905); the line numbers stay."""
    import __future__

    lines = source.split(b"\n")
    flags = 0
    for k, line in enumerate(lines):
        if line.startswith(FUTURE):
            for name in line[len(FUTURE) :].strip(b" ()").split(b","):
                flags |= getattr(__future__, name.strip().decode()).compiler_flag
            lines[k] = b""
    code: CodeType = compile(b"\n".join(lines), rel, "exec", flags=flags, dont_inherit=True)
    return code


FUTURE = b"from __future__ import "


def _pyc(source: bytes, name: str) -> bytes:
    """Unchecked-hash byte code of ``source`` (PEP 552), as ``py_compile`` writes it."""
    import importlib.util
    from importlib._bootstrap_external import _code_to_hash_pyc  # type: ignore[attr-defined]

    code = compile(source, name, "exec", dont_inherit=True)
    return bytes(_code_to_hash_pyc(code, importlib.util.source_hash(source), checked=False))


def archive(kind: Zipapp = DEVICE) -> bytes:
    """The bytes of zipapp ``kind``: the same for the same sources and interpreter (members sorted, one fixed date and
    mode each), so ``layoutc install`` lays it again only when it changed."""
    import io
    import json

    layoutc = Path(__file__).resolve().parent.parent
    buffer = io.BytesIO()
    buffer.write(SHEBANG)
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        _member(z, "__main__.py", MAIN.encode())
        top = TOP_INIT.format(name=kind.name, what=kind.what, table=TABLE).encode()
        _member(z, "layoutc/__init__.py", top)
        _member(z, "layoutc/__init__.pyc", _pyc(top, "layoutc/__init__.py"), zipfile.ZIP_STORED)
        modules = []
        for package in kind.packages:
            for path in sorted((layoutc / package).rglob("*.py")):
                rel = f"layoutc/{package}/{path.relative_to(layoutc / package).as_posix()}"
                modules.append((rel, path.read_bytes()))
                _member(z, rel, modules[-1][1])
        _member(z, f"layoutc/{TABLE}", _code_table(modules), zipfile.ZIP_STORED)
        _member(z, "layoutc/dump/filter-spec.schema.json", json.dumps(load_schema(), indent=1).encode())
    return buffer.getvalue()


def _member(z: zipfile.ZipFile, name: str, data: bytes, method: int = zipfile.ZIP_DEFLATED) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = method
    info.external_attr = 0o644 << 16
    z.writestr(info, data, compresslevel=9 if method == zipfile.ZIP_DEFLATED else None)


def build(out: str, kind: Zipapp = DEVICE) -> int:
    """Write zipapp ``kind`` to ``out`` (mode 0755, through a temporary name); returns its size in bytes."""
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(archive(kind))
    os.chmod(tmp, 0o755)
    os.replace(tmp, out)
    return os.path.getsize(out)
