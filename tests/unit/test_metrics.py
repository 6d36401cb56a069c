"""`bilge metrics` (reports/metrics.py): the exposition carries the figures the other reports
compute, per-image series stay bounded, label values are escaped, the last prune is the last
real one, and the file appears atomically or not at all.

promtool's own check of the output, and the chain through node_exporter and Prometheus, are in
tests/test_metrics_chain.py.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from toygraph import Toy

from bilge.gc.policy import ImagePolicy
from bilge.gc.prune import Plan, Request, execute, record
from bilge.gc.snapshots import EVERYTHING
from bilge.reports.metrics import escape, render_metrics, write_metrics
from bilge.store.errors import BilgeError

SAMPLE = re.compile(r'^(\w+)(?:\{(\w+)="((?:[^"\\]|\\.)*)"\})? (\S+)$')


@pytest.fixture
def toy(tmp_path: Path) -> Toy:
    """base:1 [b 1000] <- app:1 [b a 10], big:1 [b g 500], and a dangling image [b d 50]."""
    toy = Toy(tmp_path / "store")
    base = toy.image("base", toy.stack(("b", 1000)), tags=("base:1",))
    toy.image("app", toy.stack(("b", 1000), ("a", 10)), parent=base, tags=("app:1",))
    toy.image("big", toy.stack(("b", 1000), ("g", 500)), parent=base, tags=("big:1",))
    toy.image("dangling", toy.stack(("b", 1000), ("d", 50)), parent=base)
    return toy


def samples(text: str) -> dict[tuple[str, str], float]:
    """(name, label value) -> value; every line is a sample, a HELP or a TYPE gauge line."""
    found: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            assert line.endswith(" gauge"), line
            continue
        match = SAMPLE.match(line)
        assert match, line
        name, _, value, number = match.groups()
        found[name, value or ""] = float(number)
    return found


def test_the_figures(toy: Toy) -> None:
    got = samples(render_metrics(toy.store))
    short = toy.image_ids["dangling"].removeprefix("sha256:")[:12]
    assert got[("bilge_store_bytes", "images")] == got[("bilge_store_total_bytes", "")] == 1560
    assert got[("bilge_store_bytes", "containers")] == got[("bilge_store_bytes", "build_cache")] == 0
    assert got[("bilge_reclaimable_bytes", "system prune -a")] == 1560  # nothing is in use
    assert {k[1]: v for k, v in got.items() if k[0] == "bilge_image_unique_bytes"} == {
        "big:1": 500,
        short: 50,
        "app:1": 10,
        "base:1": 0,
    }
    assert (got[("bilge_images", "")], got[("bilge_layers", "")], got[("bilge_containers", "")]) == (4, 4, 0)
    assert 0 < got[("bilge_filesystem_free_bytes", "")] <= got[("bilge_filesystem_size_bytes", "")]


def test_per_image_series_are_the_top_n(toy: Toy) -> None:
    got = samples(render_metrics(toy.store, top=2))
    images = [k[1] for k in got if k[0] == "bilge_image_unique_bytes"]
    assert len(images) == 2 and images[0] == "big:1"
    assert not [k for k in samples(render_metrics(toy.store, top=0)) if k[0] == "bilge_image_unique_bytes"]


def test_label_values_are_escaped() -> None:
    assert escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert escape("registry:5000/app:v1") == "registry:5000/app:v1"


def test_last_prune_is_the_last_that_ran(toy: Toy) -> None:
    got = samples(render_metrics(toy.store))
    assert got[("bilge_last_prune_timestamp_seconds", "")] == got[("bilge_last_prune_freed_bytes", "")] == 0
    outcome = execute(toy.store, Request("image prune", images=ImagePolicy()))
    # A dry run afterwards is no prune.
    record(toy.store, EVERYTHING, Plan(), 0.0, 0, 0, 0, 0, dry_run=True)
    finished = toy.db.execute("SELECT finished FROM gc_runs WHERE dry_run = 0").fetchone()[0]
    got = samples(render_metrics(toy.store))
    assert got[("bilge_last_prune_freed_bytes", "")] == outcome.freed_bytes == 50
    assert got[("bilge_last_prune_timestamp_seconds", "")] == pytest.approx(finished)


def test_write_is_atomic_and_readable_by_another_user(toy: Toy, tmp_path: Path) -> None:
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    target = textfiles / "bilge.prom"
    target.write_text("old\n")
    write_metrics(toy.store, target)
    written, shown = samples(target.read_text()), samples(render_metrics(toy.store))
    free = ("bilge_filesystem_free_bytes", "")  # other tests write to the same file system meanwhile
    assert written.pop(free) > 0 and shown.pop(free) > 0
    assert written == shown
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.listdir(textfiles) == ["bilge.prom"]


@pytest.mark.parametrize("where", ["missing/bilge.prom", "a-directory"])
def test_a_failed_write_is_one_error_and_leaves_nothing_behind(toy: Toy, tmp_path: Path, where: str) -> None:
    (tmp_path / "a-directory").mkdir()
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(BilgeError, match="cannot write metrics to "):
        write_metrics(toy.store, tmp_path / where)
    assert sorted(os.listdir(tmp_path)) == before
    assert os.listdir(tmp_path / "a-directory") == []
