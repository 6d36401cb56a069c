"""The space reports on the fixture images Docker made, plus the fixture's two containers.

What-if: every scenario's figures equal its command's `--dry-run`, and the real prune then
frees exactly that (each prune run in turn on one store, the what-if taken afresh before it).
"""

from __future__ import annotations

import json
import shlex
import sqlite3
import time
from pathlib import Path

from test_gc import layers_bytes
from test_gc_containers import _recreate_fixture_containers

from bilge.reports.whatif import what_if
from bilge.store.core import Store

DAY = 86400


def _age(root: Path, days: dict[str, int]) -> None:
    """Make the named images last used `days` ago (the fixture was loaded just now)."""
    db = sqlite3.connect(root / "bilge.db")
    with db:
        for ref, ago in days.items():
            repo, _, tag = ref.partition(":")
            db.execute(
                "UPDATE images SET added = ?, last_used = NULL WHERE id IN"
                " (SELECT image_id FROM tags WHERE repository LIKE ? AND tag = ?)",
                [time.time() - ago * DAY, f"%{repo}", tag],
            )
    db.close()


def _scenarios(root: Path) -> dict:
    store = Store(root)
    try:
        return {s.command: s for s in what_if(store)}
    finally:
        store.close()


def test_what_if_equals_dry_runs_and_real_prunes(ctr, bilge_root: Path, fixtures_dir: Path) -> None:
    _recreate_fixture_containers(ctr, fixtures_dir)
    _age(bilge_root, {"zoo:latest": 10, "app:v1": 40, "scratchpad:latest": 40})
    scenarios = _scenarios(bilge_root)
    assert len(scenarios) == 9
    assert scenarios["bilge container prune"].bytes == 40000  # head -c 40000 > /scratch.bin
    for command, s in scenarios.items():
        dry = json.loads(ctr(*shlex.split(command)[1:], "--dry-run", "--format", "json").stdout)
        assert (s.bytes, s.disk, s.images, s.containers) == (
            dry["Bytes"],
            dry["Disk"],
            len(dry["Images"]),
            len(dry["Containers"]),
        ), command
    assert 0 < scenarios["bilge image prune -a --unused-for 30d"].bytes < scenarios["bilge image prune -a"].bytes
    order = [
        "bilge image prune",
        "bilge image prune -a --unused-for 30d",
        "bilge image prune -a --unused-for 7d",
        "bilge container prune",
        "bilge image prune --keep 3",
        "bilge builder prune",
        "bilge image prune -a",
        "bilge system prune -a",
    ]
    freed_something = 0
    for command in order:
        s = _scenarios(bilge_root)[command]
        before = layers_bytes(bilge_root)
        done = json.loads(ctr(*shlex.split(command)[1:], "-f", "--format", "json").stdout)
        assert (done["SpaceReclaimed"], done["DiskReclaimed"]) == (s.bytes, s.disk), command
        writable = 40000 if command == "bilge container prune" else 0  # the rest is layers, walked here
        assert before - layers_bytes(bilge_root) == s.bytes - writable, command
        freed_something += s.bytes > 0
    assert freed_something >= 5
