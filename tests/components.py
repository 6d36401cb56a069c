"""Finding the real components a test needs: a skip with its reason on a developer's machine, a
failure under CI, where `.ci/run` must have installed them.

A module of its own, not conftest: `from conftest import …` in a test module finds whichever
conftest pytest imported last (tests/benchmarks has one too), so it breaks with collection order.
"""

from __future__ import annotations

import os
import shutil

import pytest

# dockerd and runc live in sbin, which a non-login shell's PATH may lack.
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def fail_or_skip(reason: str, hint: str = ".ci/run must provide it") -> None:
    """Skip for `reason`; under CI, fail, saying (`hint`) what CI should have done."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: {hint})", pytrace=False)
    pytest.skip(reason)


def require(binary: str, why: str) -> str:
    """The path of `binary`; skips the test without it (fails under CI). `why`: what needs it."""
    path = shutil.which(binary, path=os.pathsep.join([os.environ.get("PATH", ""), *_SBIN]))
    if path is None:
        fail_or_skip(f"{binary} not found: needed {why}")
    return path
