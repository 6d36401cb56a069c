"""The read-only commands import only what they use, within a start-up budget.

`images` and `system df` are what people run to see where the disk went, often in a loop or
from monitoring: they must not pay for the registry client, the tar machinery, the container
runtime or the migration library. Each command runs once in a fresh interpreter with
`-X importtime`; the modules it imported are checked against what it must never need, and
the import time it spent (the sum of every module's own time, the least of five runs, so a
busy machine does not fail it) against a budget.

The package is byte-compiled first, as `pip install` leaves it (this machine sets
PYTHONDONTWRITEBYTECODE, and compiling every module from source on each run would be
measured instead). The budget: `system df` spent about 140 ms of its 180 ms importing; it now spends
95-105 ms alone and up to 145 ms while the rest of this tier runs (-X importtime's own
figures, which it inflates, on the 2-core CI machine; typer, click and the standard library
are most of it). 150 ms fails when a heavy room creeps back in (the container room costs
~40 ms, httpx ~60 ms); the module list above catches the rest deterministically.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

BUDGET_US = 150_000

PACKAGES = ("bilge", "bilge.store", "bilge.gc", "bilge.reports", "bilge.cron")

NEVER = {
    "httpx",
    "tarfile",
    "sqlite_utils",
    "rich",
    "psutil",
    "zstandard",
    "isal",
    "bilge.store.registry.client",
    "bilge.store.containers.lifecycle",
    "bilge.store.containers.runtime",
    "bilge.store.containers.records",
    "bilge.store.layerfs.extract",
    "bilge.store.archive.load",
    "bilge.store.oci.model",
}

COMMANDS = [["images"], ["images", "-a", "--format", "json"], ["system", "df"], ["system", "df", "-v"]]


def _imports(root: Path, args: list[str]) -> dict[str, int]:
    """module -> its own import time in µs, for one run of `bilge --root ROOT *args`."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bilge", "--root", str(root), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    found = {}
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            own, _, name = line.removeprefix("import time:").split("|")
            found[name.strip()] = int(own)
    assert "bilge.cli" in found, proc.stderr[-500:]
    return found


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import compileall

    for package in PACKAGES:
        compileall.compile_dir(Path(importlib.import_module(package).__file__ or "").parent, quiet=1)
    root = tmp_path_factory.mktemp("startup") / "store"
    subprocess.run([sys.executable, "-m", "bilge", "--root", str(root), "images"], check=True, capture_output=True)
    return root


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_read_only_commands_import_only_what_they_use(store: Path, args: list[str]) -> None:
    runs = [_imports(store, args) for _ in range(5)]
    heavy = sorted(NEVER & set(runs[0]))
    assert not heavy, f"bilge {' '.join(args)} imports {heavy}"
    spent = min(sum(run.values()) for run in runs)
    assert spent <= BUDGET_US, (
        f"bilge {' '.join(args)} spent {spent / 1000:.0f} ms importing (budget {BUDGET_US / 1000:.0f} ms)"
    )


def test_the_check_sees_a_heavy_import(store: Path) -> None:
    """The import log names a heavy module when one is imported."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import tarfile, bilge.cli"], capture_output=True, text=True
    )
    assert "tarfile" in proc.stderr
