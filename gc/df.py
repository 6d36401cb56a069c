"""`system df`: the Engine API's GET /system/df, computed from stored sizes in SQL.

Nothing is walked: layer sizes were measured at extraction and containers' writable sizes
when they stopped (design rule 4); that is why this is fast on hosts where Docker's is not.
"""

from __future__ import annotations

import json
from typing import Any

from bilge.store.containers.records import Container
from bilge.store.containers.views import command, current, image_shown, sizes, status
from bilge.store.core import Store
from bilge.store.reference import familiar_name
from bilge.store.timeutil import parse_rfc3339

from .accounting import TOP_LEVEL, image_usage


def system_df(store: Store) -> dict[str, Any]:
    db = store.db
    layers_size, layers_disk = db.execute(
        "SELECT COALESCE(SUM(size), 0), COALESCE(SUM(disk), 0) FROM layers "
        "WHERE chain_id IN (SELECT chain_id FROM image_layers)"
    ).fetchone()
    usage = image_usage(db)
    tags: dict[str, list[str]] = {}
    for repo, tag, image_id in db.execute("SELECT repository, tag, image_id FROM tags ORDER BY repository, tag"):
        tags.setdefault(image_id, []).append(f"{familiar_name(repo)}:{tag}")
    digests: dict[str, list[str]] = {}
    for repo, digest, image_id in db.execute("SELECT repository, digest, image_id FROM digests"):
        digests.setdefault(image_id, []).append(f"{familiar_name(repo)}@{digest}")
    counts = dict(db.execute("SELECT image_id, COUNT(*) FROM containers GROUP BY image_id").fetchall())
    images = []
    for row in db.query(f"SELECT id, parent, created, labels FROM images WHERE id IN ({TOP_LEVEL})"):
        u = usage[row["id"]]
        named = row["id"] in tags or row["id"] in digests
        images.append(
            {
                "Containers": counts.get(row["id"], 0),
                "Created": int(parse_rfc3339(row["created"]) or 0),
                "Id": row["id"],
                "Labels": json.loads(row["labels"]) if row["labels"] else None,
                "ParentId": row["parent"] or "",
                "RepoDigests": digests.get(row["id"]) or (None if named else ["<none>@<none>"]),
                "RepoTags": tags.get(row["id"]) or (None if named else ["<none>:<none>"]),
                "SharedSize": u.shared,
                "Size": u.size,
                "VirtualSize": u.size,
                "FairShare": round(u.fair_share),
                "Disk": u.disk,
                "SharedDisk": u.shared_disk,
            }
        )
    images.sort(key=lambda i: (i["Created"], i["Id"]), reverse=True)
    containers = [_container(store, c) for c in current(store)]
    return {
        "LayersSize": layers_size,
        "LayersDisk": layers_disk,
        "Images": images,
        "Containers": containers,
        "Volumes": [],
        "BuildCache": [],
    }


def _container(store: Store, c: Container) -> dict[str, Any]:
    """GET /system/df's container entry: stored sizes for stopped containers, measured for running ones."""
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
