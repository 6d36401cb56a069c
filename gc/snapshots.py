"""Usage snapshots: the store's totals at one moment, kept so that reports can show growth over
time and what each prune freed.

They live in the collector, not the reports, because every prune records one (in the same
transaction as its run) and the collector may not import the reports. The totals are the
accounting `system df` reads (gc/accounting.py, gc/buildcache.py), from SQL only (rule 4):
a container counts at its stored writable size, measured when it last stopped.
`reclaimable_bytes` is exactly what `system prune -a` would free now (gc/prune.py's plan
over the graph), not Docker's RECLAIMABLE column arithmetic.
"""

from __future__ import annotations

import time
from dataclasses import astuple, dataclass, fields
from typing import TYPE_CHECKING

from bilge.store.core import Store
from bilge.store.errors import InvalidInput

if TYPE_CHECKING:
    from .graph import Graph
    from .policy import Disk

REASONS = ("prune", "report", "cron")


@dataclass(frozen=True)
class Snapshot:
    taken_at: float
    reason: str
    images_bytes: int
    containers_bytes: int
    build_cache_bytes: int
    reclaimable_bytes: int
    fs_free_bytes: int
    fs_total_bytes: int
    freed_bytes: int

    @property
    def stored_bytes(self) -> int:
        """Every layer and writable container layer the store holds, each once (images_bytes
        already counts the build cache's layers, as `system df` does)."""
        return self.images_bytes + self.containers_bytes


_COLUMNS = [f.name for f in fields(Snapshot)]


def take(graph: Graph, disk: Disk, reason: str, freed: int, now: float) -> Snapshot:
    """The totals of the store `graph` holds, as of `now` (the clock the prune policies see).

    The accounting and the planner are imported here, not with the module: `trends` only reads
    snapshots, and starts without them."""
    from .accounting import image_layer_bytes
    from .buildcache import BuildCache
    from .policy import Filters, ImagePolicy
    from .prune import plan, system_request

    everything = system_request("system prune", Filters(), ImagePolicy(all=True))  # system prune -a
    return Snapshot(
        taken_at=now,
        reason=reason,
        images_bytes=image_layer_bytes(graph)[0],
        containers_bytes=sum(c.size_rw for c in graph.containers.values()),
        build_cache_bytes=BuildCache.of(graph).size()[0],
        reclaimable_bytes=plan(graph, everything, now, disk, itemized=False).bytes,
        fs_free_bytes=disk.free,
        fs_total_bytes=disk.total,
        freed_bytes=freed,
    )


def record_snapshot(store: Store, reason: str, freed: int = 0) -> Snapshot:
    """Take a snapshot and store it. Opens no transaction of its own, so a prune can record it
    in the one that records its run."""
    if reason not in REASONS:
        raise InvalidInput(f"unknown snapshot reason {reason!r} (one of: {', '.join(REASONS)})")
    from .graph import Graph
    from .prune import disk_usage

    snapshot = take(Graph.load(store.db), disk_usage(store), reason, freed, time.time())
    store.db.execute(
        f"INSERT INTO snapshots ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
        astuple(snapshot),
    )
    return snapshot


def load_snapshots(store: Store, since: float | None = None) -> list[Snapshot]:
    """Every snapshot taken at or after `since` (all without it), oldest first."""
    rows = store.db.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM snapshots WHERE taken_at >= ? ORDER BY taken_at, id",
        [since if since is not None else float("-inf")],
    )
    return [Snapshot(*row) for row in rows]
