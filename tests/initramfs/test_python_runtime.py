"""The dumper's standard-library scan: one ast pass per process, whatever the number of building threads."""

from __future__ import annotations

import threading

from layoutc.initramfs import python_runtime


def test_concurrent_builders_share_one_scan() -> None:
    """The lab builds crash images from concurrent boot threads; CPython before 3.11.5 cannot run two AST
    conversions at once (gh-106905), so the scan is serialised and done once."""
    python_runtime._scanned_imports.cache_clear()
    results: list[tuple[str, ...]] = []
    threads = [threading.Thread(target=lambda: results.append(python_runtime.dumper_imports())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1
    info = python_runtime._scanned_imports.cache_info()
    assert (info.misses, info.hits) == (1, 7)
    names = results[0]
    assert "zlib" in names and "struct" in names and not any(n.startswith("layoutc") for n in names)
    assert not python_runtime.NOT_SHIPPED & set(names)
