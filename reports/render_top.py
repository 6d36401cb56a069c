"""How `bilge top` looks: Docker's human units in the table, exact bytes in json and csv
(the same figures, under `system df`'s field names where it has one)."""

from __future__ import annotations

from typing import Any

from bilge.store.tables import ago, human_size
from bilge.store.timeutil import with_rfc3339

from .present import show
from .top import ImageRank, LayerRank

IMAGE_COLUMNS = [
    ("name", "IMAGE"),
    ("id", "IMAGE ID"),
    ("unique", "UNIQUE SIZE"),
    ("size", "SIZE"),
    ("shared", "SHARED SIZE"),
    ("fair", "FAIR SHARE"),
    ("containers", "CONTAINERS"),
    ("used", "LAST USED"),
    ("created", "CREATED"),
]
LAYER_COLUMNS = [
    ("chain", "LAYER"),
    ("size", "SIZE"),
    ("disk", "DISK"),
    ("count", "IMAGES"),
    ("containers", "CONTAINERS"),
    ("images", "SHARED BY"),
]
_BAR_KEY = {"unique": "UniqueSize", "size": "Size", "fair": "FairShare", "disk": "Disk"}


def image_data(ranks: list[ImageRank]) -> list[dict[str, Any]]:
    """Exact figures per image, as json and csv carry them."""
    return [
        {
            "Id": r.image.id,
            "Name": r.name,
            "RepoTags": [f"{repo}:{tag}" for repo, tag in r.image.tags],
            "UniqueSize": r.usage.unique,
            "Size": r.usage.size,
            "SharedSize": r.usage.shared,
            "FairShare": r.usage.fair_share,
            "Disk": r.usage.disk,
            "SharedDisk": r.usage.shared_disk,
            "UniqueDisk": r.usage.disk - r.usage.shared_disk,
            "Containers": r.image.containers,
            "LastUsed": r.image.last_used,
            "Created": r.image.created,
        }
        for r in ranks
    ]


def layer_data(ranks: list[LayerRank]) -> list[dict[str, Any]]:
    return [
        {"ChainID": r.chain, "Size": r.size, "Disk": r.disk, "Images": r.images, "Containers": r.containers}
        for r in ranks
    ]


def render_images(ranks: list[ImageRank], by: str, fmt: str, terminal: bool | None = None) -> str:
    data = image_data(ranks)
    rows = [
        {
            "name": d["Name"],
            "id": d["Id"][7:19],
            "unique": human_size(d["UniqueDisk"] if by == "disk" else d["UniqueSize"], 4),
            "size": human_size(d["Disk"] if by == "disk" else d["Size"], 4),
            "shared": human_size(d["SharedDisk"] if by == "disk" else d["SharedSize"], 4),
            "fair": human_size(d["FairShare"], 4),
            "containers": str(d["Containers"]),
            "used": ago(d["LastUsed"]) if d["LastUsed"] else "never",
            "created": ago(d["Created"]),
        }
        for d in data
    ]
    exact = with_rfc3339(data, "LastUsed", "Created")
    return show(rows, IMAGE_COLUMNS, fmt, exact, bar=(_BAR_KEY[by], by.upper()), terminal=terminal)


def render_layers(ranks: list[LayerRank], fmt: str, terminal: bool | None = None) -> str:
    data = layer_data(ranks)
    rows = [
        {
            "chain": d["ChainID"][7:19],
            "size": human_size(d["Size"], 4),
            "disk": human_size(d["Disk"], 4),
            "count": str(len(d["Images"])),
            "containers": str(d["Containers"]),
            "images": ", ".join(d["Images"]),
        }
        for d in data
    ]
    return show(rows, LAYER_COLUMNS, fmt, data, bar=("Size", "SIZE"), terminal=terminal)
