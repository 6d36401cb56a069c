"""Everything under tests/benchmarks is a benchmark: deselected by default (see pyproject addopts)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "benchmarks" in str(item.path):
            item.add_marker(pytest.mark.benchmark)
