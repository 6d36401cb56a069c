"""`system df`: the Engine API's GET /system/df, computed from stored sizes.

Nothing is walked: layer sizes were measured at extraction and containers' writable sizes
when they stopped (rule 4); that is why this is fast on hosts where Docker's is not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bilge.gc.accounting import image_usage
from bilge.store.catalog import Catalog
from bilge.store.core import Store

if TYPE_CHECKING:
    from bilge.store.containers.records import Container


def system_df(store: Store) -> dict[str, Any]:
    catalog = Catalog.load(store.db)
    in_images = {chain for img in catalog.images.values() for chain in img.chain}
    layers = [layer for chain, layer in catalog.layers.items() if chain in in_images]
    images = []
    for image_id, u in image_usage(catalog).items():
        img = catalog.images[image_id]
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
                "FairShare": round(u.fair_share),
                "Disk": u.disk,
                "SharedDisk": u.shared_disk,
            }
        )
    images.sort(key=lambda i: (i["Created"], i["Id"]), reverse=True)
    containers = _containers(store) if catalog.containers else []
    return {
        "LayersSize": sum(layer.size for layer in layers),
        "LayersDisk": sum(layer.disk for layer in layers),
        "Images": images,
        "Containers": containers,
        "Volumes": [],
        "BuildCache": [],
    }


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
    """The four rows of `docker system df`, with Docker's RECLAIMABLE arithmetic."""
    key = "Disk" if disk else "Size"
    total = df["LayersDisk"] if disk else df["LayersSize"]
    shared = "SharedDisk" if disk else "SharedSize"
    used = sum(i[key] - i[shared] for i in df["Images"] if i["Containers"])
    rw = "DiskRw" if disk else "SizeRw"
    return [
        {
            "Type": "Images",
            "TotalCount": len(df["Images"]),
            "Active": sum(1 for i in df["Images"] if i["Containers"]),
            "Size": total,
            "Reclaimable": total - used,
        },
        {
            "Type": "Containers",
            "TotalCount": len(df["Containers"]),
            "Active": sum(1 for c in df["Containers"] if c["State"] == "running"),
            "Size": sum(c[rw] for c in df["Containers"]),
            "Reclaimable": sum(c[rw] for c in df["Containers"] if c["State"] != "running"),
        },
        {"Type": "Local Volumes", "TotalCount": 0, "Active": 0, "Size": 0, "Reclaimable": 0},
        {"Type": "Build Cache", "TotalCount": 0, "Active": 0, "Size": 0, "Reclaimable": 0},
    ]
