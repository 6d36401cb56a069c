"""Usage snapshots (gc/snapshots.py): the totals `system df` reports, the exact bytes
`system prune -a` would free, one snapshot per prune with what it freed, and reading them back.

The graph:

    base:1 [b]          pinned, so no prune takes b
      app:1 [b a]       unused
      <none> [b d]      dangling
      s1 [b r]          a build's untagged result: build cache

Sizes: b 1000, a 10, d 50, r 100. Toy containers are rows without a container's files, which
neither `system df` nor a sweep can take, so containers are counted on the graph alone here
(tests/test_gc_containers.py prunes real ones).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from toygraph import T0, Toy

from bilge.gc.policy import CachePolicy, Disk, Filters, ImagePolicy
from bilge.gc.prune import Request, execute, preview, system_request
from bilge.gc.snapshots import Snapshot, load_snapshots, record_snapshot, take
from bilge.reports.df import system_df
from bilge.store.core import Store
from bilge.store.errors import InvalidInput

EVERYTHING = system_request("system prune", Filters(), ImagePolicy(all=True))  # what `system prune -a` runs


@pytest.fixture
def toy(tmp_path: Path) -> Toy:
    toy = Toy(tmp_path / "store")
    base = toy.image("base", toy.stack(("b", 1000)), tags=("base:1",))
    toy.pin(base)
    toy.image("app", toy.stack(("b", 1000), ("a", 10)), parent=base, tags=("app:1",))
    toy.image("dangling", toy.stack(("b", 1000), ("d", 50)), parent=base)
    toy.image("s1", toy.stack(("b", 1000), ("r", 100)), parent=base, built=True)
    return toy


def snapshots(toy: Toy) -> list[Snapshot]:
    return load_snapshots(toy.store)


def test_totals_are_what_system_df_reports(toy: Toy) -> None:
    snap = record_snapshot(toy.store, "report")
    df = system_df(toy.store)
    assert snap.images_bytes == df["LayersSize"] == 1160
    assert snap.build_cache_bytes == df["BuilderSize"] == 100
    assert snap.containers_bytes == 0
    assert (snap.reason, snap.freed_bytes) == ("report", 0)
    assert 0 < snap.fs_free_bytes <= snap.fs_total_bytes


def test_reclaimable_is_exactly_what_system_prune_all_frees(toy: Toy) -> None:
    snap = record_snapshot(toy.store, "report")
    assert snap.reclaimable_bytes == preview(toy.store, EVERYTHING).bytes == 10 + 50 + 100
    outcome = execute(toy.store, EVERYTHING)
    assert outcome.freed_bytes == snap.reclaimable_bytes


REQUESTS = {
    "image prune": Request("image prune", images=ImagePolicy()),
    "builder prune": Request("builder prune", cache=CachePolicy()),
    "system prune -a": EVERYTHING,
}


@pytest.mark.parametrize("request_", REQUESTS.values(), ids=REQUESTS.keys())
def test_every_prune_records_a_snapshot_of_what_it_left_and_freed(toy: Toy, request_: Request) -> None:
    outcome = execute(toy.store, request_)
    assert outcome.freed_bytes > 0
    (snap,) = snapshots(toy)
    assert (snap.reason, snap.freed_bytes) == ("prune", outcome.freed_bytes)
    # The snapshot is of the store after the sweep, and the run's log agrees with it.
    after = record_snapshot(toy.store, "report")
    assert (snap.images_bytes, snap.containers_bytes, snap.reclaimable_bytes) == (
        after.images_bytes,
        after.containers_bytes,
        after.reclaimable_bytes,
    )
    run = toy.db.execute("SELECT started, finished, fs_free_after FROM gc_runs").fetchone()
    assert run[2] == snap.fs_free_bytes
    assert run[0] <= snap.taken_at <= run[1]


def test_containers_count_at_their_stored_writable_size(toy: Toy) -> None:
    """A stopped container's writable layer is reclaimable with it; it holds its image, so
    app:1's layer no longer is."""
    toy.container("stopped", toy.image_ids["app"], size_rw=7)
    toy.container("running", toy.image_ids["base"], state="running", size_rw=5)
    snap = take(toy.graph(), Disk(100, 60, 40), "cron", 0, T0)
    assert (snap.containers_bytes, snap.reclaimable_bytes) == (12, 7 + 10 + 50 + 100)
    assert (snap.fs_free_bytes, snap.fs_total_bytes, snap.taken_at) == (40, 100, T0)


def test_a_prune_with_nothing_to_take_still_records_a_snapshot(toy: Toy) -> None:
    execute(toy.store, Request("image prune", images=ImagePolicy(filters=Filters(labels=["nothing=here"]))))
    (snap,) = snapshots(toy)
    assert snap.freed_bytes == 0
    assert snap.reclaimable_bytes == 160


def test_a_dry_run_records_no_snapshot(toy: Toy) -> None:
    preview(toy.store, EVERYTHING)
    assert snapshots(toy) == []


def test_load_since_oldest_first(toy: Toy) -> None:
    first = record_snapshot(toy.store, "report")
    execute(toy.store, EVERYTHING)
    last = record_snapshot(toy.store, "cron")
    got = snapshots(toy)
    assert [s.reason for s in got] == ["report", "prune", "cron"]
    assert got[0] == first and got[-1] == last
    assert got[1].images_bytes == got[2].images_bytes == 1000
    assert load_snapshots(toy.store, since=got[1].taken_at) == got[1:]
    assert load_snapshots(toy.store, since=last.taken_at + 1) == []


def test_an_unknown_reason_is_refused_and_records_nothing(toy: Toy) -> None:
    with pytest.raises(InvalidInput, match="unknown snapshot reason 'weekly'"):
        record_snapshot(toy.store, "weekly")
    assert snapshots(toy) == []


def test_a_store_from_before_snapshots_gains_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A v6 database, made by the first six migrations alone, is migrated forward when opened."""
    from bilge.store import db

    Store(tmp_path).close()
    for name in ("bilge.db", "bilge.db-wal", "bilge.db-shm"):  # the store's directories stay, its database goes
        (tmp_path / name).unlink(missing_ok=True)
    conn = sqlite3.connect(tmp_path / "bilge.db", isolation_level=None)
    with monkeypatch.context() as patch:
        patch.setattr(db, "MIGRATIONS", db.MIGRATIONS[:6])
        old = db.Database(conn)
        db._migrate(old)
    assert conn.execute("SELECT version FROM schema_version").fetchone() == (6,)
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'snapshots'").fetchall()
    conn.close()
    store = Store(tmp_path)
    record_snapshot(store, "report")
    assert len(load_snapshots(store)) == 1
