"""Plan a prune from the graph, then sweep: one transaction drops the rows and logs the
directories, the trash finishes the deletion (design rule 3). Every run is recorded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from bilge.store.core import Store
from bilge.store.db import write

from .graph import Graph
from .policy import Disk, Filters, ImagePolicy, prune_containers, prune_images


@dataclass
class Plan:
    """What a prune removes and exactly what that frees (apparent and allocated bytes)."""

    containers: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    untagged: list[str] = field(default_factory=list)
    container_bytes: int = 0
    container_disk: int = 0
    layer_bytes: int = 0
    layer_disk: int = 0

    @property
    def bytes(self) -> int:
        return self.container_bytes + self.layer_bytes

    @property
    def disk(self) -> int:
        return self.container_disk + self.layer_disk

    def __bool__(self) -> bool:
        return bool(self.containers or self.images or self.layers)


@dataclass
class Request:
    """A prune command's intent: which kinds, which filters, which policies."""

    command: str
    containers: Filters | None = None
    images: ImagePolicy | None = None

    def describe(self) -> dict:
        return {
            "containers": asdict(self.containers) if self.containers else None,
            "images": asdict(self.images) if self.images else None,
        }


@dataclass
class Outcome:
    plan: Plan
    freed_bytes: int
    freed_disk: int
    fs_before: int
    fs_after: int
    run_id: int | None


def disk_usage(store: Store) -> Disk:
    import psutil

    usage = psutil.disk_usage(str(store.layout.root))
    return Disk(usage.total, usage.used, usage.free)


def plan(graph: Graph, request: Request, now: float, disk: Disk | None,
         allowed: Plan | None = None) -> Plan:
    """The removal set; with `allowed` (what a prompt showed), never more than that."""
    containers = prune_containers(graph, request.containers) if request.containers else []
    if allowed is not None:
        containers = [c for c in containers if c in set(allowed.containers)]
    images = prune_images(graph, request.images, now, disk, set(containers)) if request.images else []
    if allowed is not None:
        images = [i for i in images if i in set(allowed.images)]
    _, layers = graph.garbage(set(images), set(containers))
    layer_bytes, layer_disk = graph.layer_bytes(layers)
    return Plan(
        containers=containers,
        images=images,
        layers=sorted(layers, key=lambda c: -len(_ancestry(graph, c))),
        untagged=[f"{repo}:{tag}" for i in images for repo, tag in graph.images[i].tags],
        container_bytes=sum(graph.containers[c].size_rw for c in containers),
        container_disk=sum(graph.containers[c].disk_rw for c in containers),
        layer_bytes=layer_bytes,
        layer_disk=layer_disk,
    )


def _ancestry(graph: Graph, chain: str) -> list[str]:
    """The layer's ancestry, so layers are listed (and removed) top first."""
    out = []
    current: str | None = chain
    while current in graph.layers:
        out.append(current)
        current = graph.layers[current].parent
    return out


def preview(store: Store, request: Request) -> Plan:
    return plan(Graph.load(store.db), request, time.time(), disk_usage(store))


def execute(store: Store, request: Request, allowed: Plan | None = None,
            remove_containers: Callable[[list[str]], None] | None = None) -> Outcome:
    """Re-plan inside the write transaction (so nothing new is taken by surprise), then sweep."""
    started = time.time()
    before = disk_usage(store)
    with write(store.db):
        graph = Graph.load(store.db)
        decided = plan(graph, request, time.time(), before, allowed)
        if decided.containers:
            (remove_containers or _drop_container_rows(store))(decided.containers)
        store.images.delete_rows(decided.images)
        swept = store.layers.sweep_unreferenced()
        freed_bytes, freed_disk = graph.layer_bytes(set(swept))
        freed_bytes += decided.container_bytes
        freed_disk += decided.container_disk
    store.trash.finish()
    after = disk_usage(store)
    run_id = record(store, request, decided, started, freed_bytes, freed_disk, before.free, after.free, dry_run=False)
    return Outcome(decided, freed_bytes, freed_disk, before.free, after.free, run_id)


def _drop_container_rows(store: Store) -> Callable[[list[str]], None]:
    def drop(ids: list[str]) -> None:
        for cid in ids:
            store.db.execute("DELETE FROM containers WHERE id = ?", [cid])
        store.trash.queue([f"containers/{cid}" for cid in ids])

    return drop


def record(store: Store, request: Request, decided: Plan, started: float, freed_bytes: int, freed_disk: int,
           fs_before: int, fs_after: int, dry_run: bool, errors: str | None = None) -> int:
    cursor = store.db.execute(
        "INSERT INTO gc_runs (started, finished, command, policy, dry_run, removed, planned_bytes, planned_disk,"
        " freed_bytes, freed_disk, fs_free_before, fs_free_after, errors) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [started, time.time(), request.command, json.dumps(request.describe()), int(dry_run),
         json.dumps({"containers": decided.containers, "images": decided.images, "layers": decided.layers}),
         decided.bytes, decided.disk, freed_bytes, freed_disk, fs_before, fs_after, errors],
    )
    return int(cursor.lastrowid or 0)
