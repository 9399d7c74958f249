"""The view of the distribution's initramfs integration of one board: the initramfs-tools hook and its
``init-premount`` script, and the dracut module ``99layoutc`` (docs/initramfs.md, "Distribution tools").

Both build the same crash initramfs ``layoutc initramfs`` builds, with the distribution's tool: the board's
``capture-init.sh``, ``capture.sh`` and ``filter.json``, the crash dumper zipapp, the tools ``capture.sh``
calls, python3 with the standard library the dumper imports, and the modules of the capability table
(``initramfs.contents``: one list for all three builders). Every value is precomputed here; the
templates loop and quote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from layoutc.initramfs.contents import SCRIPT_COMMANDS, crash_contents
from layoutc.initramfs.python_runtime import dumper_imports
from layoutc.model.layout import Layout
from layoutc.model.profile import Profile

INSTALL_DIR = "/usr/lib/layoutc"  # render.device_view.INSTALL_DIR
CONFIG_DIR = "/etc/layoutc"
CRASH_PYZ = f"{INSTALL_DIR}/dump.pyz"  # the crash dumper zipapp (layoutc dump --build-zipapp)
TOOLS_CONFDIR = f"{INSTALL_DIR}/initramfs-tools"  # where layoutc install lays the conf dir
DRACUT_MODULE = "99layoutc"
# run by the build machine's python3: import each name given, print the file of every module loaded
# (the standard library and the codec package; frozen modules name their source, os.py among them, the
# interpreter's landmark)
LIST_FILES = (
    "import importlib, sys\n"
    "for name in sys.argv[1:]:\n"
    "    try:\n"
    "        importlib.import_module(name)\n"
    "    except ImportError:\n"
    "        pass\n"
    "files = {getattr(m, '__file__', None) for m in list(sys.modules.values())}\n"
    "print('\\n'.join(sorted(f for f in files if isinstance(f, str) and f.startswith('/'))))\n"
)


@dataclass(frozen=True, slots=True)
class InitramfsView:
    board: str
    profile: str
    # device path -> the name copy_file files it under, for the board's own files
    files: tuple[tuple[str, str], ...]
    capture_init: str
    modules: tuple[str, ...]
    optional_modules: tuple[str, ...]
    tools: tuple[str, ...]
    optional_tools: tuple[str, ...]
    commands: tuple[str, ...]  # what the scripts call, for dracut (initramfs-tools ships busybox)
    python: bool
    python_names: tuple[str, ...]  # imported by LIST_FILES
    list_files: str
    confdir: str
    dracut_module: str


@lru_cache(maxsize=1)
def _dumper_imports() -> tuple[str, ...]:
    return dumper_imports()


def build_view(profile: Profile, layout: Layout, compression: str) -> InitramfsView:
    """The view of ``profile``'s hooks; ``compression`` is its filter spec's."""
    contents = crash_contents(profile, compression)
    files = [(f"{INSTALL_DIR}/capture-init.sh", "script"), (f"{INSTALL_DIR}/capture.sh", "script"),
             (f"{CONFIG_DIR}/filter.json", "config")]
    if contents.layoutc_dumper:
        files.append((CRASH_PYZ, "dumper"))
    names = (*_dumper_imports(), *contents.python_packages) if contents.layoutc_dumper else ()
    return InitramfsView(
        board=layout.board, profile=layout.profile, files=tuple(files),
        capture_init=f"{INSTALL_DIR}/capture-init.sh", modules=contents.modules,
        optional_modules=contents.optional_modules, tools=contents.tools, optional_tools=contents.optional_tools,
        commands=SCRIPT_COMMANDS, python=contents.layoutc_dumper, python_names=tuple(sorted(set(names))),
        list_files=LIST_FILES, confdir=TOOLS_CONFDIR, dracut_module=DRACUT_MODULE,
    )


def compression_of(filter_document: bytes) -> str:
    """The compression the serialized filter spec names."""
    return str(json.loads(filter_document).get("compression", "zlib"))
