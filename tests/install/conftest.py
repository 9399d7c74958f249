"""Fixtures of the install tests: a compiled board's plan, and a tree snapshot to compare roots with."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.frontend.load import load_profile
from layoutc.install.plan import install_plan
from layoutc.model.install_plan import InstallPlan
from layoutc.render import render_all
from layoutc.render.device import device_artifacts
from layoutc.solve import solve

from ..conftest import REPO

QEMU = REPO / "profiles" / "qemu" / "qemu-4g.yaml"


def artifacts_of(profile_path: Path):  # type: ignore[no-untyped-def]
    diags = Diagnostics()
    profile = load_profile(profile_path, str(profile_path), diags)
    assert profile is not None, diags.items
    layout = solve(profile, diags)
    assert layout is not None, diags.items
    return profile, (*render_all(layout), *device_artifacts(profile, layout))


@pytest.fixture(scope="session")
def qemu_plan() -> InstallPlan:
    profile, artifacts = artifacts_of(QEMU)
    return install_plan(profile.board, profile.file, "test", artifacts)


def snapshot(root: Path) -> dict[str, tuple[str, str | bytes, int]]:
    """Every path below ``root``: (kind, bytes or link target, mode); directories with kind 'dir'."""
    found: dict[str, tuple[str, str | bytes, int]] = {}
    for here, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            path = Path(here, name)
            rel = "/" + str(path.relative_to(root))
            info = path.lstat()
            if path.is_symlink():
                found[rel] = ("link", os.readlink(path), 0)
            elif path.is_dir():
                found[rel] = ("dir", b"", info.st_mode & 0o7777)
            else:
                found[rel] = ("file", path.read_bytes(), info.st_mode & 0o7777)
    return found
