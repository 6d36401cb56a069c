"""The read-only commands import only what they use, within a start-up budget.

`images`, `system df` and `metrics` are what people run to see where the disk went, often in a
loop or from monitoring: they must not pay for the registry client, the tar machinery, the container
runtime or the migration library. Each command runs once in a fresh interpreter with
`-X importtime`; the modules it imported are checked against what it must never need, and
the import time it spent (the sum of every module's own time, the least of five runs, so a
busy machine does not fail it) against a budget.

The package is byte-compiled first, as `pip install` leaves it (this machine sets
PYTHONDONTWRITEBYTECODE, and compiling every module from source on each run would be
measured instead).

Two budgets. bilge's own modules: about 16 ms on a quiet 2-core CI machine (-X importtime's
figures, which it inflates), up to 30 ms while other tests load it; 45 ms fails when a room
creeps back in (the container room alone is ~20 ms of bilge modules). Everything, typer,
click and the standard library included: `system df` spent about 140 ms of its 180 ms
importing before this budget; it now spends 90-100 ms quiet and up to 150 ms on a busy
machine, so 250 ms only catches a gross regression (httpx alone is ~60 ms). The module list
above catches the rest deterministically.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

OWN_BUDGET_US = 45_000
BUDGET_US = 250_000

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

COMMANDS = [
    ["images"],
    ["images", "-a", "--format", "json"],
    ["system", "df"],
    ["system", "df", "-v"],
    ["top"],
    ["top", "--layers", "--format", "json"],
    ["metrics"],
    ["trends"],
]


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
    from bilge.store.core import Store

    Store(root).close()  # an empty store: read-only commands refuse one that is not there
    return root


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_read_only_commands_import_only_what_they_use(store: Path, args: list[str]) -> None:
    runs = [_imports(store, args) for _ in range(5)]
    heavy = sorted(NEVER & set(runs[0]))
    assert not heavy, f"bilge {' '.join(args)} imports {heavy}"
    own = min(sum(us for name, us in run.items() if name.split(".")[0] == "bilge") for run in runs)
    spent = min(sum(run.values()) for run in runs)
    shown = " ".join(args)
    assert own <= OWN_BUDGET_US, f"bilge {shown} spent {own / 1000:.0f} ms importing its own modules"
    assert spent <= BUDGET_US, f"bilge {shown} spent {spent / 1000:.0f} ms importing (budget {BUDGET_US / 1000:.0f} ms)"


def test_the_check_sees_a_heavy_import(store: Path) -> None:
    """The import log names a heavy module when one is imported."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import tarfile, bilge.cli"], capture_output=True, text=True
    )
    assert "tarfile" in proc.stderr
