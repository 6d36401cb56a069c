"""Memoized figures (store/memo.py) are never stale: `system df` and `images` read back what an
earlier run derived only while the database is at the same generation and the same leases are
live, and otherwise compute afresh. Every check compares against a computation with no memo.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from toygraph import Toy

from bilge.reports.df import system_df
from bilge.store.db import REFERENCE_TABLES
from bilge.store.listing import list_images
from bilge.store.memo import generation, memo


@pytest.fixture
def toy(tmp_path: Path) -> Toy:
    toy = Toy(tmp_path / "store")
    base = toy.image("base", toy.stack("b"), tags=("base:1",))
    toy.image("app", toy.stack("b", "a"), parent=base, tags=("app:1",))
    toy.image("loose", toy.stack("b", "l"), parent=base)
    return toy


def fresh(toy: Toy, compute: Callable[[], object]) -> object:
    """What the command computes with no memo at all."""
    shutil.rmtree(toy.store.layout.cache, ignore_errors=True)
    return compute()


def test_a_memo_is_read_back_while_nothing_changes(toy: Toy) -> None:
    calls = []

    def compute() -> list[int]:
        calls.append(1)
        return [len(calls)]

    assert memo(toy.store, "probe", "k", compute) == [1]
    assert memo(toy.store, "probe", "k", compute) == [1]
    assert memo(toy.store, "probe", "other key", compute) == [2]
    assert len(calls) == 2


@pytest.mark.parametrize("table", REFERENCE_TABLES)
def test_every_change_to_a_reference_table_moves_the_generation(toy: Toy, table: str) -> None:
    image = toy.image_ids["loose"]
    toy.lease(("image", image))
    toy.container("c", image)
    toy.pin(image)
    toy.db.execute("INSERT INTO build_cache (image_id, created) VALUES (?, 1)", [image])
    toy.digest(image, "loose")
    (rowid,) = toy.db.execute(f"SELECT max(rowid) FROM {table}").fetchone()
    columns = [r[1] for r in toy.db.execute(f"PRAGMA table_info({table})")]
    before = generation(toy.store)
    toy.db.execute(f"UPDATE {table} SET {columns[-1]} = {columns[-1]} WHERE rowid = ?", [rowid])
    assert generation(toy.store) > before
    copied = toy.db.execute(f"SELECT * FROM {table} WHERE rowid = ?", [rowid]).fetchone()
    before = generation(toy.store)
    toy.db.execute("PRAGMA foreign_keys=OFF")  # the delete would cascade into other tables
    toy.db.execute(f"DELETE FROM {table} WHERE rowid = ?", [rowid])
    assert generation(toy.store) > before
    before = generation(toy.store)
    toy.db.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(copied))})", copied)
    assert generation(toy.store) > before


def add_container(toy: Toy, image: str) -> None:
    toy.container("c", image, size_rw=123)
    toy.db.execute("""UPDATE containers SET config = '{"Config": {"Image": "app", "Cmd": ["sh"]}}'""")


def test_system_df_follows_every_kind_of_change(toy: Toy) -> None:
    def df() -> object:
        return system_df(toy.store)

    loose, app = toy.image_ids["loose"], toy.image_ids["app"]
    changes = [
        lambda: toy.tag(loose, "loose:1"),
        lambda: add_container(toy, app),
        lambda: toy.db.execute("UPDATE containers SET size_rw = 456"),
        lambda: toy.pin(app),
        lambda: toy.image("new", toy.stack("b", "n"), tags=("new:1",)),
        lambda: toy.db.execute("DELETE FROM tags WHERE repository LIKE '%app'"),
        lambda: toy.db.execute("UPDATE layers SET size = size + 1"),
    ]
    for change in changes:
        memoized = df()
        assert df() == memoized  # read back
        change()
        assert df() == fresh(toy, df)


def test_a_lease_that_lapses_with_no_write_changes_the_figures(toy: Toy, monkeypatch: pytest.MonkeyPatch) -> None:
    loose = toy.image_ids["loose"]
    toy.image("child", toy.stack("b", "l", "c"), parent=loose, built=True)
    toy.db.execute("INSERT INTO build_cache (image_id, created) VALUES (?, 1)", [loose])
    toy.lease(("image", loose))  # lapses in an hour
    held = system_df(toy.store)
    assert held == system_df(toy.store)
    later = time.time() + 7200
    monkeypatch.setattr(time, "time", lambda: later)
    lapsed = system_df(toy.store)
    assert lapsed != held
    assert lapsed == fresh(toy, lambda: system_df(toy.store))


def test_images_follows_a_tag(toy: Toy) -> None:
    def listed() -> object:
        return list_images(toy.store)

    assert listed() == listed()
    before = len(list_images(toy.store, filters=["dangling=true"]))
    toy.tag(toy.image_ids["loose"], "loose:1")
    assert len(list_images(toy.store, filters=["dangling=true"])) == before - 1
    assert listed() == fresh(toy, listed)


def test_a_damaged_or_unwritable_memo_is_computed_again(toy: Toy) -> None:
    expected = fresh(toy, lambda: system_df(toy.store))
    system_df(toy.store)
    for memo_file in toy.store.layout.cache.iterdir():
        memo_file.write_bytes(b"\x00garbage")
    assert system_df(toy.store) == expected
    shutil.rmtree(toy.store.layout.cache)
    toy.store.layout.cache.write_text("not a directory")
    assert system_df(toy.store) == expected
