"""`bilge trends`: the usage snapshots (gc/snapshots.py) as a listing, oldest first: how the
store grew between them and what each prune freed.

GROWTH is the change in stored bytes (every layer and writable layer, each once) since the
snapshot before, so a prune's row shows what it took away and the next row what arrived since.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from bilge.gc.snapshots import Snapshot
from bilge.store.tables import human_size, render
from bilge.store.timeutil import with_rfc3339

COLUMNS = [
    ("when", "WHEN (UTC)"),
    ("reason", "REASON"),
    ("stored", "STORED"),
    ("growth", "GROWTH"),
    ("images", "IMAGES"),
    ("containers", "CONTAINERS"),
    ("build_cache", "BUILD CACHE"),
    ("reclaimable", "RECLAIMABLE"),
    ("freed", "FREED"),
    ("fs_free", "FS FREE"),
]


def trend_data(snapshots: list[Snapshot]) -> list[dict[str, Any]]:
    """Each snapshot's fields with exact bytes, plus stored_bytes and growth_bytes (None for the first)."""
    data = []
    previous: Snapshot | None = None
    for snap in snapshots:
        growth = snap.stored_bytes - previous.stored_bytes if previous else None
        data.append({**asdict(snap), "stored_bytes": snap.stored_bytes, "growth_bytes": growth})
        previous = snap
    return data


def _signed(size: int | None) -> str:
    if size is None:
        return ""
    return ("-" if size < 0 else "+") + human_size(abs(size))


def render_trends(snapshots: list[Snapshot], fmt: str) -> str:
    data = trend_data(snapshots)
    return render(trend_rows(data), COLUMNS, fmt, with_rfc3339(data, "taken_at"))


def trend_rows(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """trend_data's figures in human units (the listing's, and the report's trends table)."""
    return [
        {
            "when": datetime.fromtimestamp(d["taken_at"], UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "reason": d["reason"],
            "stored": human_size(d["stored_bytes"]),
            "growth": _signed(d["growth_bytes"]),
            "images": human_size(d["images_bytes"]),
            "containers": human_size(d["containers_bytes"]),
            "build_cache": human_size(d["build_cache_bytes"]),
            "reclaimable": human_size(d["reclaimable_bytes"]),
            "freed": human_size(d["freed_bytes"]) if d["reason"] == "prune" else "",
            "fs_free": human_size(d["fs_free_bytes"]),
        }
        for d in data
    ]
