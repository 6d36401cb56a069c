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
    """Per top-level image: size, shared, unique and fair share, sharing counted among top-level images.

    One pass over each chain (not one per figure): at 100,000 images this is most of `df -v`.
    """
    listed = [img for img in catalog.images.values() if catalog.top_level(img)]
    users = Counter(chain for img in listed for chain in img.chain)
    layers = catalog.layers
    usage = {}
    for img in listed:
        size = shared = disk = shared_disk = 0
        fair = 0.0
        for chain in img.chain:
            layer = layers.get(chain)
            if layer is None:
                continue
            n = users[chain]
            size += layer.size
            disk += layer.disk
            fair += layer.size / n
            if n > 1:
                shared += layer.size
                shared_disk += layer.disk
        usage[img.id] = ImageUsage(img.id, size, shared, fair, disk, shared_disk)
    return usage


def image_layer_bytes(catalog: Catalog) -> tuple[int, int]:
    """(apparent, disk) bytes of the layers some image's chain holds: `system df`'s Images SIZE
    (LayersSize), and the images total of every usage snapshot."""
    in_images = {chain for img in catalog.images.values() for chain in img.chain}
    layers = [layer for chain, layer in catalog.layers.items() if chain in in_images]
    return sum(layer.size for layer in layers), sum(layer.disk for layer in layers)
