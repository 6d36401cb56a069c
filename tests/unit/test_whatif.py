"""What-if (reports/whatif.py): each scenario's figures are exactly what its command's
`--dry-run` prints, on a toy store with every kind of thing a prune weighs: dangling and
unused images, repositories with more than three tags, old and recent use, a stopped and a
running container, a pin, and build cache."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import pytest
from toygraph import DAY, T0, Toy
from typer.testing import CliRunner

from bilge.cli import app
from bilge.reports.whatif import what_if


@pytest.fixture
def toy(tmp_path: Path) -> Toy:
    toy = Toy(tmp_path / "store")
    now = time.time()
    base = toy.stack(("base", 5000))
    toy.image("base", base, tags=("base:1",), added=now - 40 * DAY)
    for n in range(5):  # five versions of one app: --keep 3 takes the two oldest
        toy.image(
            f"app{n}",
            toy.stack(("base", 5000), (f"app{n}", 100 * (n + 1))),
            created=T0 + n,
            added=now - (40 - 10 * n) * DAY,
            tags=(f"app:{n}",),
        )
    toy.image("dangling", toy.stack(("base", 5000), ("old", 700)), added=now - 3 * DAY)
    pinned = toy.image("pinned", toy.stack(("pin", 900)), added=now - 50 * DAY, tags=("pinned:1",))
    toy.pin(pinned)
    used = toy.image("used", toy.stack(("base", 5000), ("used", 333)), added=now - 60 * DAY, tags=("used:1",))
    toy.container("stopped", used, size_rw=4321, disk_rw=8192)
    toy.container("running", toy.image_ids["app4"], state="running", size_rw=11)
    step = toy.image("step", toy.stack(("base", 5000), ("s1", 250)), added=now - DAY, built=True, created=None)
    toy.image("result", toy.stack(("base", 5000), ("s1", 250), ("s2", 125)), parent=step, built=True, created=None)
    return toy


def dry_run(root: Path, command: str) -> dict:
    args = shlex.split(command)[1:] + ["--dry-run", "--format", "json"]
    result = CliRunner().invoke(app, ["--root", str(root), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_each_scenario_is_what_its_dry_run_prints(toy: Toy) -> None:
    scenarios = what_if(toy.store)
    assert [s.name for s in scenarios] == [
        "dangling images",
        "unused images",
        "stopped containers",
        "unused for 7 days",
        "unused for 30 days",
        "keep 3 per repository",
        "build cache",
        "system prune",
        "system prune -a",
    ]
    for s in scenarios:
        printed = dry_run(toy.root, s.command)
        assert (s.bytes, s.disk) == (printed["Bytes"], printed["Disk"]), s.command
        assert (s.images, s.cache, s.containers, s.layers) == (
            len(printed["Images"]),
            len(printed["BuildCache"]),
            len(printed["Containers"]),
            len(printed["Layers"]),
        ), s.command


def test_the_scenarios_differ_as_their_policies_do(toy: Toy) -> None:
    """Not all zero, nor all the same: the toy store gives each policy something of its own."""
    by = {s.name: s for s in what_if(toy.store)}
    assert by["stopped containers"].bytes == 4321 and by["stopped containers"].disk == 8192
    assert by["dangling images"].bytes == 700 + 250 + 125  # the untagged build result is dangling too
    # --keep takes what has no tag to keep it, and the two oldest apps
    assert by["keep 3 per repository"].bytes == 100 + 200 + by["dangling images"].bytes
    assert by["build cache"].bytes == 250 + 125
    assert 0 < by["unused for 30 days"].bytes < by["unused for 7 days"].bytes < by["unused images"].bytes
    # the stopped container's image (and its own layer) goes only when the container goes too
    assert by["system prune -a"].bytes == by["unused images"].bytes + 333 + 4321
