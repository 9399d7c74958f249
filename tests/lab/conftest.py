"""The on-demand lab tier: tests marked ``lab_more`` are deselected unless the ``-m`` expression names
``lab_more`` (``pytest -m lab_more tests/lab``), so neither a plain run nor ``pytest -m lab`` (CI) boots them."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "lab_more" in (config.getoption("markexpr") or ""):
        return
    chosen = [item for item in items if item.get_closest_marker("lab_more") is None]
    dropped = [item for item in items if item.get_closest_marker("lab_more") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = chosen
