"""Lab cache entries are fetched once even when boot threads or processes ask for them at the same time.

A cold cache once broke an arm64 CI boot: the production and baseline boots build their images in two
threads, both found no userland, both unpacked it, and one removed the tree the other was compiling from.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from layoutc.lab.errors import LabError
from layoutc.lab.image import kernels, pyrt, sysroot


def _fake_fetch(calls: list[int]):  # type: ignore[no-untyped-def]
    def fetch(arch: str, root: Path, dest: Path, mirror: object) -> sysroot.Sysroot:
        calls.append(threading.get_ident())
        time.sleep(0.2)  # long enough for every other thread to reach the lock
        (dest / "root").mkdir(parents=True)
        packages = [f"{n}_1.0_{arch}.deb" for n in (*sysroot.USERLAND, *sysroot.CYCLE_USERLAND)]
        (dest / ".complete.json").write_text(json.dumps({"arch": arch, "packages": packages}))
        return sysroot.Sysroot(dest / "root", arch, tuple(packages))

    return fetch


def test_concurrent_threads_fetch_the_userland_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(sysroot, "_fetch_userland", _fake_fetch(calls))
    with ThreadPoolExecutor(max_workers=4) as pool:
        roots = list(pool.map(lambda _: sysroot.ensure_userland("arm64", root=tmp_path), range(4)))
    assert len(calls) == 1
    assert {r.path for r in roots} == {tmp_path / "userland" / "arm64" / "root"}


def test_the_lock_serialises_holders(tmp_path: Path) -> None:
    inside: list[int] = []
    overlap: list[bool] = []

    def hold(_: int) -> None:
        with kernels.cache_lock(tmp_path, "fetch-arm64"):
            inside.append(1)
            overlap.append(len(inside) > 1)
            time.sleep(0.05)
            inside.pop()

    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(hold, range(3)))
    assert overlap == [False, False, False]
    assert (tmp_path / "fetch-arm64.lock").is_file()


def test_a_stdlib_file_that_does_not_compile_is_a_lab_error_with_the_reason(tmp_path: Path) -> None:
    bad = tmp_path / "broken.py"
    bad.write_text("def f(:\n")
    with pytest.raises(LabError) as err:
        pyrt._compiled(pyrt.interpreter(), [(str(bad), "/usr/lib/python3.11/broken.py")])
    assert err.value.code == "command-failed"
    assert "could not byte-compile the guest's stdlib" in err.value.message
    assert "SyntaxError" in err.value.message or "invalid syntax" in err.value.message
