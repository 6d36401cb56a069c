"""Everything under tests/benchmarks is a benchmark: deselected by default (see pyproject addopts)."""

from __future__ import annotations

import pytest


def pytest_sessionstart(session: pytest.Session) -> None:
    """bilge is timed as installed, byte-compiled (PYTHONDONTWRITEBYTECODE would otherwise
    have every command compile its modules from source)."""
    import compileall
    import importlib
    from pathlib import Path

    for package in ("bilge", "bilge.store", "bilge.gc", "bilge.reports", "bilge.cron"):
        compileall.compile_dir(Path(importlib.import_module(package).__file__ or "").parent, quiet=1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "benchmarks" in str(item.path):
            item.add_marker(pytest.mark.benchmark)
