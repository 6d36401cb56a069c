"""The read-only commands import only what they use, within a start-up budget.

`images`, `system df` and `metrics` are what people run to see where the disk went, often in a
loop or from monitoring: they must not pay for the registry client, the tar machinery, the container
runtime or the migration library. Each command runs once in a fresh interpreter with
`-X importtime`; the modules it imported are checked against what it must never need, and
the import time it spent (the sum of every module's own time) against a budget.

The package is byte-compiled first, as `pip install` leaves it (this machine sets
PYTHONDONTWRITEBYTECODE, and compiling every module from source on each run would be
measured instead).

The budgets are in units of a reference: the import time of a fixed set of pure-Python
standard-library modules, measured in a fresh interpreter just before each run; the figure
is the median of five such ratios. A machine that is slower, or busy with other tests,
inflates both alike: CI's 2 cores, with dockerd and the attack suite beside them, put bilge's
own modules at 46 ms against 38 ms quiet, and failed a budget kept in milliseconds, while the
ratios mostly hold with three busy loops on those 2 cores. Quiet, the reference takes about
95 ms. bilge's own modules take about 0.1 of it for the commands the side door reads
(bilge/direct.py: no typer, click or front door), 0.25 for the others, and 0.4 for `metrics`,
which plans every standard prune (0.56 with two benchmarks running beside it); everything a
command imports, the standard library included, 0.4-0.8 through the side door and 0.8-1.3
through typer. The budgets, 0.8 and 2.5, catch a room creeping back in (the container room
alone is ~0.2) or a heavy library (httpx alone is ~0.6); the module lists above catch the rest
deterministically, typer and click included for the side door's commands.
"""

from __future__ import annotations

import importlib
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from bilge import direct

OWN_BUDGET = 0.8  # bilge's own modules, in references
BUDGET = 2.5  # everything imported, in references
REFERENCE = (
    "argparse, calendar, configparser, csv, dataclasses, decimal, email.message, fractions,"
    " http.client, json, logging, pathlib, statistics, string, textwrap, typing"
)

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

FRONT_DOOR = {"typer", "click", "bilge.cli"}  # what the side door (bilge/direct.py) saves the commands it reads

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


def _imports(*command: str) -> dict[str, int]:
    """module -> its own import time in µs, for one run of `python -X importtime *command`."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *command], capture_output=True, text=True, check=True)
    found = {}
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            own, _, name = line.removeprefix("import time:").split("|")
            found[name.strip()] = int(own)
    return found


def _bilge_imports(root: Path, args: list[str]) -> dict[str, int]:
    found = _imports("-m", "bilge", "--root", str(root), *args)
    assert "bilge.entry" in found, sorted(found)
    return found


def _reference() -> int:
    return sum(_imports("-c", f"import {REFERENCE}").values())


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
    runs = []
    for _ in range(5):  # the reference beside each run, so a burst of load meets both
        reference = _reference()
        run = _bilge_imports(store, args)
        own = sum(us for name, us in run.items() if name.split(".")[0] == "bilge")
        runs.append((own / reference, sum(run.values()) / reference, run))
    never = NEVER | (FRONT_DOOR if direct.read(args) is not None else set())
    heavy = sorted(never & set(runs[0][2]))
    assert not heavy, f"bilge {' '.join(args)} imports {heavy}"
    own, spent = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
    shown = " ".join(args)
    assert own <= OWN_BUDGET, f"bilge {shown} spent {own:.2f} references importing its own modules"
    assert spent <= BUDGET, f"bilge {shown} spent {spent:.2f} references importing (budget {BUDGET})"


def test_the_check_sees_a_heavy_import(store: Path) -> None:
    """The import log names a heavy module when one is imported."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import tarfile, bilge.cli"], capture_output=True, text=True
    )
    assert "tarfile" in proc.stderr
