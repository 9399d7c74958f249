"""Page codecs of the kdump-compressed format (docs/reference/dump-formats.md §3.2, §6.3).

zlib is the standard library; the others are used only when a package provides them.  Each
``compress`` must produce what makedumpfile writes for one page: a zlib-wrapped level-1 stream, a
single zstd frame at level 1, the raw snappy block format, LZO1X-1 without a header.
"""

from __future__ import annotations

import functools
import importlib
import zlib
from collections.abc import Callable

from layoutc.dump.record import Frozen, init

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Compress = Callable[[Any], bytes]

# diskdump_mod.h
DUMP_DH_COMPRESSED_ZLIB = 0x1
DUMP_DH_COMPRESSED_LZO = 0x2
DUMP_DH_COMPRESSED_SNAPPY = 0x4
DUMP_DH_COMPRESSED_INCOMPLETE = 0x8
DUMP_DH_EXCLUDED_VMEMMAP = 0x10
DUMP_DH_COMPRESSED_ZSTD = 0x20


class Codec(Frozen):
    """A page compressor and its page_desc / header flag (0 for raw)."""

    __slots__ = ("name", "flag", "compress")
    name: str
    flag: int
    compress: Compress | None

    def __init__(self, name: str, flag: int, compress: Compress | None) -> None:
        init(self, name=name, flag=flag, compress=compress)


def _zlib() -> Compress:
    return functools.partial(zlib.compress, level=1)  # no Python frame per page


def _zstandard_backend() -> Any:
    """python-zstandard's C backend, loaded without the package's ``__init__``, which imports ``platform`` and
    ``typing`` to choose a backend (about 5 ms of every zstd dump's start-up, measured); the package itself
    when the backend is not a plain extension beside it."""
    import importlib.machinery
    import importlib.util
    import os

    spec = importlib.util.find_spec("zstandard")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "backend_c" + suffix)
            if os.path.isfile(path):
                loader = importlib.machinery.ExtensionFileLoader("zstandard.backend_c", path)
                found = importlib.util.spec_from_loader(loader.name, loader)
                try:
                    module = importlib.util.module_from_spec(found)  # type: ignore[arg-type]
                    loader.exec_module(module)
                except ImportError:
                    break  # not loadable on its own: through the package, as it is meant to be
                return module
    return importlib.import_module("zstandard")


def _zstd() -> Compress:
    try:
        zstandard: Any = _zstandard_backend()
    except ImportError:
        module: Any = importlib.import_module("compression.zstd")  # Python 3.14
        return lambda page: bytes(module.compress(page, level=1))
    # One context per process: a shared ZstdCompressor across threads crashed (§6.2).
    return zstandard.ZstdCompressor(level=1, write_content_size=True).compress  # type: ignore[no-any-return]


def _snappy() -> Compress:
    try:
        cramjam: Any = importlib.import_module("cramjam")
        raw = cramjam.snappy.compress_raw
        return lambda page: bytes(raw(page))
    except ImportError:
        snappy: Any = importlib.import_module("snappy")
        return snappy.compress  # type: ignore[no-any-return]


def _lzo() -> Compress:
    lzo: Any = importlib.import_module("lzo")
    return lambda page: bytes(lzo.compress(bytes(page), 1, False))


FACTORIES: dict[str, tuple[int, Callable[[], Compress]]] = {
    "zlib": (DUMP_DH_COMPRESSED_ZLIB, _zlib),
    "zstd": (DUMP_DH_COMPRESSED_ZSTD, _zstd),
    "snappy": (DUMP_DH_COMPRESSED_SNAPPY, _snappy),
    "lzo": (DUMP_DH_COMPRESSED_LZO, _lzo),
}
# The module each non-stdlib codec above imports that a Debian system packages (python3-zstandard, python3-lzo,
# python3-snappy): what a crash initramfs must carry for the codec (layoutc.lab.image.crashrd ships it).
DEBIAN_MODULES: dict[str, tuple[str, ...]] = {"zstd": ("zstandard",), "lzo": ("lzo",), "snappy": ("snappy",)}


def lookup(name: str) -> Codec:
    """The codec called ``name``; raises ImportError when no package provides it."""
    if name == "none":
        return Codec("none", 0, None)
    flag, factory = FACTORIES[name]
    return Codec(name, flag, factory())


def available() -> list[str]:
    """Names of the codecs that work in this interpreter."""
    names = ["none"]
    for name in FACTORIES:
        try:
            lookup(name)
        except ImportError:
            continue
        names.append(name)
    return names
