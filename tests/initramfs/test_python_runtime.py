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


def test_modules_not_shipped_are_imported_by_the_zipapp_builder_alone() -> None:
    """What the crash initramfs leaves out (``NOT_SHIPPED``) may be imported only by ``layoutc.dump.zipapp``,
    which builds the zipapp on the build machine and never runs in a crash kernel."""
    import ast
    from pathlib import Path

    import layoutc.dump

    found: dict[str, set[str]] = {}
    for path in Path(layoutc.dump.__file__).resolve().parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                if name in python_runtime.NOT_SHIPPED:
                    found.setdefault(name, set()).add(path.name)
    assert found and all(files == {"zipapp.py"} for files in found.values()), found
