"""`bilge trends` (reports/trends.py): snapshots oldest first, growth between them, and what
each prune freed, in every listing format with exact bytes in json and csv."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from toygraph import T0, Toy

from bilge.gc.policy import ImagePolicy
from bilge.gc.prune import Request, execute
from bilge.gc.snapshots import Snapshot, load_snapshots, record_snapshot
from bilge.reports.trends import render_trends, trend_data
from bilge.store.timeutil import rfc3339_nano

GB = 1000**3


def snap(at: float, reason: str, images: int, containers: int = 0, freed: int = 0) -> Snapshot:
    return Snapshot(at, reason, images, containers, 0, images // 2, 40 * GB, 100 * GB, freed)


SNAPSHOTS = [
    snap(T0, "report", 10 * GB, 1 * GB),
    snap(T0 + 86400, "cron", 14 * GB, 1 * GB),
    snap(T0 + 2 * 86400, "prune", 9 * GB, 0, freed=6 * GB),
]


def test_growth_is_the_change_in_stored_bytes_since_the_snapshot_before() -> None:
    data = trend_data(SNAPSHOTS)
    assert [d["stored_bytes"] for d in data] == [11 * GB, 15 * GB, 9 * GB]
    assert [d["growth_bytes"] for d in data] == [None, 4 * GB, -6 * GB]
    assert trend_data([]) == []


def test_the_table_shows_growth_signed_and_freed_only_for_prunes() -> None:
    lines = render_trends(SNAPSHOTS, "table").splitlines()
    assert lines[0].split()[:4] == ["WHEN", "(UTC)", "REASON", "STORED"]
    assert lines[1].split() == ["2023-11-14", "22:13:20", "report", "11GB", "10GB", "1GB", "0B", "5GB", "40GB"]
    assert lines[2].split() == ["2023-11-15", "22:13:20", "cron", "15GB", "+4GB", "14GB", "1GB", "0B", "7GB", "40GB"]
    assert lines[3].split()[3:5] == ["9GB", "-6GB"]
    assert lines[3].split()[-2:] == ["6GB", "40GB"]


def test_json_and_csv_carry_exact_bytes() -> None:
    data = json.loads(render_trends(SNAPSHOTS, "json"))
    assert data[2] == {
        "taken_at": rfc3339_nano(T0 + 2 * 86400),  # RFC 3339, as every listing's json
        "reason": "prune",
        "images_bytes": 9 * GB,
        "containers_bytes": 0,
        "build_cache_bytes": 0,
        "reclaimable_bytes": 9 * GB // 2,
        "fs_free_bytes": 40 * GB,
        "fs_total_bytes": 100 * GB,
        "freed_bytes": 6 * GB,
        "stored_bytes": 9 * GB,
        "growth_bytes": -6 * GB,
    }
    rows = list(csv.DictReader(io.StringIO(render_trends(SNAPSHOTS, "csv"))))
    assert [r["growth_bytes"] for r in rows] == ["", str(4 * GB), str(-6 * GB)]
    assert render_trends(SNAPSHOTS, "md").splitlines()[1].startswith("|---")


def test_a_store_with_prunes_lists_them(tmp_path: Path) -> None:
    toy = Toy(tmp_path / "store")
    base = toy.image("base", toy.stack(("b", 1000)), tags=("base:1",))
    toy.image("dangling", toy.stack(("b", 1000), ("d", 50)), parent=base)
    record_snapshot(toy.store, "report")
    execute(toy.store, Request("image prune", images=ImagePolicy()))
    data = json.loads(render_trends(load_snapshots(toy.store), "json"))
    assert [(d["reason"], d["stored_bytes"], d["growth_bytes"], d["freed_bytes"]) for d in data] == [
        ("report", 1050, None, 0),
        ("prune", 1000, -50, 50),
    ]


@pytest.mark.parametrize("fmt", ["table", "md"])
def test_no_snapshots_is_just_the_headers(fmt: str) -> None:
    assert "REASON" in render_trends([], fmt)
