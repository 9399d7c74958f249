from __future__ import annotations

from pathlib import Path

import pytest

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.frontend.load import load_profile
from layoutc.model.profile import Profile

REPO = Path(__file__).resolve().parents[2]
CAPTURES = REPO / "tests" / "captures"


def profile_from_text(tmp_path: Path, text: str, name: str = "p.yaml") -> Profile:
    path = tmp_path / name
    path.write_text(text)
    diags = Diagnostics()
    profile = load_profile(path, name, diags)
    assert profile is not None, [d.message for d in diags.items]
    return profile


@pytest.fixture
def make_profile(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(text: str, name: str = "p.yaml") -> Profile:
        return profile_from_text(tmp_path, text, name)

    return make
