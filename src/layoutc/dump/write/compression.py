"""Page codecs of the kdump-compressed format (docs/reference/dump-formats.md §3.2, §6.3).

zlib is the standard library; the others are used only when a package provides them.  Each
``compress`` must produce what makedumpfile writes for one page: a zlib-wrapped level-1 stream, a
single zstd frame at level 1, the raw snappy block format, LZO1X-1 without a header.
"""

from __future__ import annotations

import os
import sys
import zlib
from itertools import repeat

try:
    # The C partial that functools re-exports, without functools' own imports (collections and more: about 2 ms
    # of every dump's start-up, measured).
    from _functools import partial  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # another interpreter
    from functools import partial

from layoutc.dump.record import Frozen, init

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

    Compress = Callable[[Any], bytes]
    CompressEach = Callable[[Iterable[Any]], Iterator[bytes]]

# diskdump_mod.h
DUMP_DH_COMPRESSED_ZLIB = 0x1
DUMP_DH_COMPRESSED_LZO = 0x2
DUMP_DH_COMPRESSED_SNAPPY = 0x4
DUMP_DH_COMPRESSED_INCOMPLETE = 0x8
DUMP_DH_EXCLUDED_VMEMMAP = 0x10
DUMP_DH_COMPRESSED_ZSTD = 0x20


class Codec(Frozen):
    """A page compressor and its page_desc / header flag (0 for raw).

    ``compress`` takes one page; ``each`` maps the same over many, the way that costs least a page."""

    __slots__ = ("name", "flag", "compress", "each")
    name: str
    flag: int
    compress: Compress | None
    each: CompressEach | None

    def __init__(self, name: str, flag: int, compress: Compress | None, each: CompressEach | None = None) -> None:
        if each is None and compress is not None:
            each = partial(map, compress)
        init(self, name=name, flag=flag, compress=compress, each=each)


def _zlib() -> Compress:
    return partial(zlib.compress, level=1)  # type: ignore[no-any-return]  # no Python frame per page


def _zlib_each(pages: Iterable[Any]) -> Iterator[bytes]:
    """``zlib.compress`` at level 1 over ``pages``, the level passed by position: a keyword (as ``_zlib``'s
    partial passes it) makes a dict each call, about 1 000 instructions a page more (callgrind)."""
    return map(zlib.compress, pages, repeat(1))


def site_dirs() -> list[str]:
    """The folders ``site`` would put on ``sys.path`` for packaged modules (Debian's and upstream's layouts), when
    they exist. The dumper runs without ``site`` (``python3 -I -S``, layoutc.dump.zipapp.RUNNER): a codec package
    is looked up here."""
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    out = []
    for prefix in dict.fromkeys((sys.prefix, sys.exec_prefix)):
        for lib in dict.fromkeys(("lib", getattr(sys, "platlibdir", "lib"))):
            for folder in (
                f"{prefix}/local/{lib}/{version}/dist-packages",  # Debian: pip's and the admin's
                f"{prefix}/{lib}/python3/dist-packages",  # Debian: the packages' (python3-zstandard)
                f"{prefix}/{lib}/{version}/dist-packages",
                f"{prefix}/{lib}/{version}/site-packages",  # upstream
            ):
                if folder not in out and os.path.isdir(folder):
                    out.append(folder)
    return out


def _import(name: str) -> Any:
    """Module ``name`` (a codec package); without ``site`` the site folders are searched after ``sys.path``."""
    if sys.flags.no_site:
        sys.path.extend(d for d in site_dirs() if d not in sys.path)
    __import__(name)
    return sys.modules[name]


def _zstandard_backend() -> Any:
    """python-zstandard's C backend, loaded without the package's ``__init__``, which imports ``platform`` and
    ``typing`` to choose a backend (about 5 ms of every zstd dump's start-up, measured); the package itself
    when the backend is not a plain extension beside it."""
    if sys.flags.no_site:
        sys.path.extend(d for d in site_dirs() if d not in sys.path)
    try:  # what importlib.machinery re-exports, without importlib's own imports (warnings: 0.4 ms, measured)
        from _frozen_importlib import ModuleSpec  # type: ignore[import-not-found,unused-ignore]
        from _frozen_importlib_external import ExtensionFileLoader  # type: ignore[import-not-found,unused-ignore]
        from _imp import extension_suffixes  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # another interpreter
        from importlib.machinery import ExtensionFileLoader, ModuleSpec

        def extension_suffixes() -> list[str]:
            from importlib.machinery import EXTENSION_SUFFIXES

            return EXTENSION_SUFFIXES

    for folder in sys.path:
        package = os.path.join(folder or ".", "zstandard")
        if not os.path.isfile(os.path.join(package, "__init__.py")):
            continue
        for suffix in extension_suffixes():
            path = os.path.join(package, "backend_c" + suffix)
            if os.path.isfile(path):
                loader = ExtensionFileLoader("zstandard.backend_c", path)
                try:
                    module = loader.create_module(ModuleSpec(loader.name, loader, origin=path))
                    loader.exec_module(module)
                except ImportError:
                    break  # not loadable on its own: through the package, as it is meant to be
                return module
        break  # the package that ``import zstandard`` would find has no plain backend
    return _import("zstandard")


def _zstd() -> Compress:
    try:
        zstandard: Any = _zstandard_backend()
    except ImportError:
        module: Any = _import("compression.zstd")  # Python 3.14
        return lambda page: bytes(module.compress(page, level=1))
    # One context per process: a shared ZstdCompressor across threads crashed (§6.2).
    return zstandard.ZstdCompressor(level=1, write_content_size=True).compress  # type: ignore[no-any-return]


def _snappy() -> Compress:
    try:
        cramjam: Any = _import("cramjam")
        raw = cramjam.snappy.compress_raw
        return lambda page: bytes(raw(page))
    except ImportError:
        snappy: Any = _import("snappy")
        return snappy.compress  # type: ignore[no-any-return]


def _lzo() -> Compress:
    lzo: Any = _import("lzo")
    return lambda page: bytes(lzo.compress(bytes(page), 1, False))


# The codecs whose ``Codec.each`` is not plain ``map`` of their ``compress``.
EACH: dict[str, CompressEach] = {"zlib": _zlib_each}
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
    return Codec(name, flag, factory(), EACH.get(name))


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
