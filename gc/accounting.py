"""Size accounting from the graph (design: "Sizes, defined").

Docker's columns for each top-level image: SIZE (its layers), SHARED SIZE (its layers that
another top-level image also uses), UNIQUE (the rest). Fair share splits each layer evenly
among its users, so the column adds up to the total, which Docker's do not.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from bilge.store.catalog import Catalog


@dataclass(frozen=True)
class ImageUsage:
    image_id: str
    size: int
    shared: int
    fair_share: float
    disk: int
    shared_disk: int

    @property
    def unique(self) -> int:
        return self.size - self.shared


def image_usage(catalog: Catalog) -> dict[str, ImageUsage]:
    """Per top-level image: size, shared, unique and fair share, sharing counted among top-level images."""
    listed = [img for img in catalog.images.values() if catalog.top_level(img)]
    users = Counter(chain for img in listed for chain in set(img.chain) if chain in catalog.layers)
    usage = {}
    for img in listed:
        layers = [catalog.layers[c] for c in img.chain if c in catalog.layers]
        shared = [layer for layer in layers if users[layer.chain] > 1]
        usage[img.id] = ImageUsage(
            img.id,
            sum(layer.size for layer in layers),
            sum(layer.size for layer in shared),
            sum(layer.size / users[layer.chain] for layer in layers),
            sum(layer.disk for layer in layers),
            sum(layer.disk for layer in shared),
        )
    return usage
