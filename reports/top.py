"""`bilge top`: images ranked by what deleting them gives back, and layers by who shares them.

The numbers are gc/accounting's, so they are `system df -v`'s to the byte: unique is what
`rmi` of that image alone frees, fair share splits each layer among the top-level images
using it, and sharing is counted among the top-level images, as Docker counts it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bilge.gc.accounting import ImageUsage, image_usage
from bilge.gc.graph import Graph
from bilge.store.catalog import ImageRecord

ORDERS = ("unique", "size", "fair", "disk")


@dataclass(frozen=True)
class ImageRank:
    image: ImageRecord
    usage: ImageUsage

    @property
    def name(self) -> str:
        return display_name(self.image)


@dataclass(frozen=True)
class LayerRank:
    chain: str
    size: int
    disk: int
    images: list[str]  # the top-level images whose chains hold it, by name (short ID if none)
    containers: int  # containers whose image holds it


def display_name(img: ImageRecord) -> str:
    """Its first name as `docker images` shows it (`<none>:<none>` without one)."""
    if img.tags:
        repo, tag = img.tags[0]
        return f"{repo}:{tag}"
    if img.digests:
        repo, digest = img.digests[0]
        return f"{repo}@{digest[:19]}"
    return "<none>:<none>"


def label(img: ImageRecord) -> str:
    """Its name, or its short ID when it has none (where no ID column tells the untagged apart)."""
    return display_name(img) if img.named else img.id[7:19]


def _key(rank: ImageRank, by: str) -> float:
    u = rank.usage
    return {"unique": u.unique, "size": u.size, "fair": u.fair_share, "disk": u.disk}[by]


def top_images(graph: Graph, by: str = "unique", limit: int | None = None) -> list[ImageRank]:
    """Top-level images, largest first by `by` (ties by name, so the order is stable)."""
    ranks = [ImageRank(graph.images[i], u) for i, u in image_usage(graph).items()]
    ranks.sort(key=lambda r: (-_key(r, by), r.name, r.image.id))
    return ranks[:limit] if limit is not None else ranks


def top_layers(graph: Graph, limit: int | None = None) -> list[LayerRank]:
    """Layers held by top-level images, largest first, each with the images that share it."""
    holders: dict[str, list[ImageRecord]] = {}
    for img in graph.images.values():
        if graph.top_level(img):
            for chain in img.chain:
                holders.setdefault(chain, []).append(img)
    ranks = []
    for chain, images in holders.items():
        layer = graph.layers.get(chain)
        if layer is None:
            continue
        names = sorted(label(i) for i in images)
        ranks.append(LayerRank(chain, layer.size, layer.disk, names, sum(i.containers for i in images)))
    ranks.sort(key=lambda r: (-r.size, r.chain))
    return ranks[:limit] if limit is not None else ranks
