"""zstd pages through python-zstandard's C backend loaded on its own: the same frames, less start-up."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from layoutc.dump.write import compression as codecs

zstandard = pytest.importorskip("zstandard")


def test_backend_frames_equal_the_package_frames() -> None:
    ours = codecs.lookup("zstd").compress
    assert ours is not None
    theirs = zstandard.ZstdCompressor(level=1, write_content_size=True).compress
    for page in (bytes(4096), os.urandom(4096), b"layoutc " * 512, bytes(range(256)) * 16):
        assert ours(page) == theirs(page)


def test_the_package_init_is_not_imported() -> None:
    code = (
        "import sys; from layoutc.dump.write import compression as c; c.lookup('zstd'); "
        "print(sorted(m for m in ('zstandard', 'platform', 'typing') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})  # fmt: skip
    assert out.stdout.strip() == "[]"


def test_a_backend_that_cannot_load_alone_falls_back_to_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.machinery

    def refuse(self: object, module: object) -> None:
        raise ImportError("needs its package")

    monkeypatch.setattr(importlib.machinery.ExtensionFileLoader, "exec_module", refuse)
    assert codecs._zstandard_backend() is zstandard
