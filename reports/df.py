"""`system df`: the Engine API's GET /system/df, computed from stored sizes.

Nothing is walked: layer sizes were measured at extraction and containers' writable sizes
when they stopped (rule 4); that is why this is fast on hosts where Docker's is not. The build
cache is gc/buildcache.py's; its exact totals (which adding up entries cannot give) are in
BuilderSize (Docker's key), BuilderDisk, BuilderReclaimable and BuilderReclaimableDisk, present
only when there is build cache, so a store without any reports what it always did; each entry
carries Disk (its layer's allocated bytes) beside Docker's fields. ImagesPruneAll (and
ImagesPruneAllDisk) is what `image prune -a` would free, exactly.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from bilge.gc.accounting import image_layer_bytes, image_usage
from bilge.gc.buildcache import BuildCache
from bilge.gc.graph import Graph
from bilge.store.core import Store
from bilge.store.memo import memo
from bilge.store.timeutil import rfc3339_nano

if TYPE_CHECKING:
    from bilge.store.containers.records import Container


def system_df(store: Store) -> dict[str, Any]:
    """Containers are described fresh (their status reads the clock, a running one is measured);
    everything else is memoized until the store changes (store/memo.py)."""
    derived = memo(store, "system-df", _live_leases(store), lambda: _images_and_cache(store))
    has_containers = store.db.execute("SELECT EXISTS (SELECT 1 FROM containers)").fetchone()[0]
    df: dict[str, Any] = {
        "LayersSize": derived["LayersSize"],
        "LayersDisk": derived["LayersDisk"],
        "Images": derived["Images"],
        "Containers": _containers(store) if has_containers else [],
        "Volumes": [],
    }
    df.update(derived["Cache"])
    df.update(derived["PruneAll"])
    return df


def _live_leases(store: Store) -> str:
    """Leases end with the clock, not with a write: the memo is keyed on which ones are live."""
    rows = store.db.execute("SELECT id FROM leases WHERE expires > ? ORDER BY id", [time.time()])
    return ",".join(row[0] for row in rows)


def _images_and_cache(store: Store) -> dict[str, Any]:
    graph = Graph.load(store.db)
    images = []
    for image_id, u in image_usage(graph).items():
        img = graph.images[image_id]
        images.append(
            {
                "Containers": img.containers,
                "Created": int(img.created or 0),
                "Id": img.id,
                "Labels": img.labels or None,
                "ParentId": img.parent or "",
                "RepoDigests": [f"{r}@{d}" for r, d in img.digests] or (None if img.named else ["<none>@<none>"]),
                "RepoTags": [f"{r}:{t}" for r, t in img.tags] or (None if img.named else ["<none>:<none>"]),
                "SharedSize": u.shared,
                "Size": u.size,
                "VirtualSize": u.size,
                "FairShare": u.fair_share,
                "Disk": u.disk,
                "SharedDisk": u.shared_disk,
                "LastUsedAt": rfc3339_nano(img.last_used) if img.last_used else None,
            }
        )
    images.sort(key=lambda i: (i["Created"], i["Id"]), reverse=True)
    cache = BuildCache.of(graph)
    found: dict[str, Any] = {"BuildCache": []}
    if cache.entries:
        found["BuildCache"] = _build_cache(store, cache)
        found["BuilderSize"], found["BuilderDisk"] = cache.size()
        found["BuilderReclaimable"], found["BuilderReclaimableDisk"] = cache.reclaimable_bytes()
    layers_size, layers_disk = image_layer_bytes(graph)
    return {
        "LayersSize": layers_size,
        "LayersDisk": layers_disk,
        "Images": images,
        "Cache": found,
        "PruneAll": _image_prune_all(graph),
    }


def _image_prune_all(graph: Graph) -> dict[str, int]:
    """What `image prune -a` frees, exactly: the plan that prune makes (the what-if's "unused
    images"). Docker's RECLAIMABLE counts an image a stopped container uses as reclaimable
    (`system prune -a` takes the container first); `image prune -a` keeps it."""
    from bilge.gc.prune import plan

    from .whatif import request_named

    freed = plan(graph, request_named("unused images"), time.time(), None, itemized=False)
    return {"ImagesPruneAll": freed.bytes, "ImagesPruneAllDisk": freed.disk}


def _build_cache(store: Store, cache: BuildCache) -> list[dict[str, Any]]:
    """GET /system/df's BuildCache entries, newest first. Size is the layer the step made;
    UsageCount is how many steps were built on the entry (the builder counts no cache hits)."""
    graph = cache.graph
    entries = []
    for image_id in sorted(cache.entries, key=lambda i: (graph.images[i].built_at or 0.0, i), reverse=True):
        img = graph.images[image_id]
        own = cache.own_layer(image_id)
        layer = graph.layers.get(own) if own else None
        history = store.images.config(image_id).get("history") or [{}]
        entries.append(
            {
                "ID": image_id,
                "Parent": img.parent or "",
                "Type": "regular",
                "Description": history[-1].get("created_by", ""),
                "InUse": image_id in cache.in_use,
                "Shared": cache.shared(image_id),
                "Size": layer.size if layer else 0,
                "Disk": layer.disk if layer else 0,
                "CreatedAt": rfc3339_nano(img.built_at or 0.0),
                "LastUsedAt": rfc3339_nano(img.last_used) if img.last_used else None,
                "UsageCount": len(graph.children.get(image_id, [])),
            }
        )
    return entries


def _containers(store: Store) -> list[dict[str, Any]]:
    """The container room is loaded only when the store has containers."""
    from bilge.store.containers.views import current

    return [_container(store, c) for c in current(store)]


def _container(store: Store, c: Container) -> dict[str, Any]:
    """GET /system/df's container entry: stored sizes for stopped containers, measured for running ones."""
    from bilge.store.containers.views import command, image_shown, sizes, status

    size = sizes(store, c)
    return {
        "Id": c.id,
        "Names": ["/" + c.name],
        "Image": image_shown(store, c),
        "ImageID": c.image_id,
        "Command": command(c),
        "Created": int(c.created),
        "State": c.state,
        "Status": status(c),
        "SizeRw": size.rw,
        "SizeRootFs": size.root_fs,
        "DiskRw": c.disk_rw or 0,
        "Labels": c.labels,
    }


def summary(df: dict[str, Any], disk: bool = False) -> list[dict[str, Any]]:
    """The four rows of `docker system df`, with Docker's RECLAIMABLE arithmetic, and beside it
    PruneFrees: what the row's prune frees exactly (`image prune -a`, `container prune`,
    `builder prune -a`), which for images can be less than Docker's figure."""
    key = "Disk" if disk else "Size"
    total = df["LayersDisk"] if disk else df["LayersSize"]
    shared = "SharedDisk" if disk else "SharedSize"
    used = sum(i[key] - i[shared] for i in df["Images"] if i["Containers"])
    rw = "DiskRw" if disk else "SizeRw"
    rows = [
        {
            "Type": "Images",
            "TotalCount": len(df["Images"]),
            "Active": sum(1 for i in df["Images"] if i["Containers"]),
            "Size": total,
            "Reclaimable": total - used,
            "PruneFrees": df["ImagesPruneAllDisk" if disk else "ImagesPruneAll"],
        },
        {
            "Type": "Containers",
            "TotalCount": len(df["Containers"]),
            "Active": sum(1 for c in df["Containers"] if c["State"] == "running"),
            "Size": sum(c[rw] for c in df["Containers"]),
            "Reclaimable": sum(c[rw] for c in df["Containers"] if c["State"] != "running"),
        },
        {"Type": "Local Volumes", "TotalCount": 0, "Active": 0, "Size": 0, "Reclaimable": 0, "PruneFrees": 0},
        {
            "Type": "Build Cache",
            "TotalCount": len(df["BuildCache"]),
            "Active": sum(1 for e in df["BuildCache"] if e["InUse"]),
            "Size": df.get("BuilderDisk" if disk else "BuilderSize", 0),
            "Reclaimable": df.get("BuilderReclaimableDisk" if disk else "BuilderReclaimable", 0),
        },
    ]
    rows[1]["PruneFrees"] = rows[1]["Reclaimable"]  # container prune takes every stopped container
    rows[3]["PruneFrees"] = rows[3]["Reclaimable"]  # already what builder prune -a frees
    return rows
