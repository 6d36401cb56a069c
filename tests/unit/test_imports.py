"""Every module of the installed package imports on its own, in a fresh interpreter state.

Commands import their rooms lazily, so a module that only one command reaches (a registry
helper, a container driver) can be broken by a move or a circular import without any other
test noticing; and inside one pytest process a module can import fine only because another
test imported its dependency first. Here one helper process imports the third-party
dependencies once, then forks a child per module, so each child starts with no bilge module
loaded and imports exactly one (as many children at once as there are CPUs). Nothing is skipped: `bilge.__main__` is imported as
`python -m bilge --help` runs it, and must exit 0.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGES = ("bilge", "bilge.store", "bilge.gc", "bilge.reports", "bilge.cron")
DEPENDENCIES = ("typer", "click", "psutil", "tabulate", "sqlite_utils", "zstandard", "rich", "httpx", "isal")
MISSING = "bilge.store.no_such_module_here"  # proves the harness reports a failure


def walk() -> list[str]:
    """The packages and every module under them; a package whose import fails is listed too
    (walk_packages would otherwise skip it and everything inside it silently)."""
    found: list[str] = []
    for top in PACKAGES:
        found.append(top)
        try:
            package = importlib.import_module(top)
        except Exception:
            continue
        found += [info.name for info in pkgutil.walk_packages(package.__path__, top + ".", onerror=found.append)]
    return sorted(set(found))


MODULES = walk()

HARNESS = r"""
import importlib, json, os, sys, traceback

for dependency in sys.argv[1].split(","):
    try:
        importlib.import_module(dependency)
    except Exception:
        pass  # a bilge module that needs it will fail in its child, which is the report we want
assert not [m for m in sys.modules if m == "bilge" or m.startswith("bilge.")], "the harness must start clean"


def start(name):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        error = ""
        try:
            if name.endswith(".__main__"):
                sys.argv = ["bilge", "--help"]
                try:
                    importlib.import_module(name)
                    error = "ran without exiting"
                except SystemExit as exc:
                    if exc.code not in (0, None):
                        error = f"exited {exc.code!r}"
            else:
                try:
                    importlib.import_module(name)
                except SystemExit as exc:
                    error = f"importing it exits the interpreter ({exc.code!r})"
        except BaseException:
            error = traceback.format_exc()
        os.write(write, error.encode())
        os._exit(0)
    os.close(write)
    return name, pid, read


def finish(name, pid, read):
    with os.fdopen(read, "rb") as pipe:
        error = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    if status and not error:
        error = f"child died with wait status {status}"
    results[name] = error or None


results = {}
running = []
for name in json.loads(sys.stdin.read()):
    if len(running) >= (os.cpu_count() or 1):
        finish(*running.pop(0))
    running.append(start(name))
while running:
    finish(*running.pop(0))
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    scratch = tmp_path_factory.mktemp("imports")
    env = {**os.environ, "BILGE_ROOT": str(scratch / "root"), "HOME": str(scratch)}
    proc = subprocess.run(
        [sys.executable, "-c", HARNESS, ",".join(DEPENDENCIES)],
        input=json.dumps([*MODULES, MISSING]),
        capture_output=True,
        text=True,
        cwd=scratch,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_walk_finds_every_room() -> None:
    assert set(PACKAGES) <= set(MODULES)
    assert {
        "bilge.__main__",
        "bilge.cli",
        "bilge.store.core",
        "bilge.store.registry.client",
        "bilge.store.containers.lifecycle",
        "bilge.gc.sweep",
        "bilge.reports.df",
    } <= set(MODULES)
    assert len(MODULES) > 60


def test_the_harness_reports_a_broken_import(results: dict[str, str | None]) -> None:
    assert "ModuleNotFoundError: No module named 'bilge.store.no_such_module_here'" in (results[MISSING] or "")


def test_modules_are_the_installed_package() -> None:
    """The walk covers what the distribution installs, mapped from the repository's rooms."""
    import bilge.gc
    import bilge.store

    repo = Path(__file__).resolve().parents[2]
    assert Path(bilge.store.__file__).resolve().parent == repo / "store"
    assert Path(bilge.gc.__file__).resolve().parent == repo / "gc"


@pytest.mark.parametrize("name", MODULES)
def test_imports_alone(results: dict[str, str | None], name: str) -> None:
    assert results[name] is None, f"import {name} in a fresh process failed:\n{results[name]}"
