"""Size accounting from the graph (design: "Sizes, defined").

Docker's columns for each top-level image: SIZE (its layers), SHARED SIZE (its layers that
another top-level image also uses), UNIQUE (the rest). Fair share splits each layer evenly
among its users, in whole bytes (a layer's odd bytes go one each to its first users by ID),
so the column adds up to the total exactly, which Docker's do not.
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
    fair_share: int
    disk: int
    shared_disk: int

    @property
    def unique(self) -> int:
        return self.size - self.shared


def image_usage(catalog: Catalog) -> dict[str, ImageUsage]:
    """Per top-level image: size, shared, unique and fair share, sharing counted among top-level images.

    One pass over each chain (not one per figure): at 100,000 images this is most of `df -v`.
    """
    listed = sorted((img for img in catalog.images.values() if catalog.top_level(img)), key=lambda img: img.id)
    users = Counter(chain for img in listed for chain in img.chain)
    counted: Counter[str] = Counter()  # users of each layer given their share so far, in ID order
    layers = catalog.layers
    usage = {}
    for img in listed:
        size = shared = disk = shared_disk = fair = 0
        for chain in img.chain:
            layer = layers.get(chain)
            if layer is None:
                continue
            n = users[chain]
            size += layer.size
            disk += layer.disk
            share, odd = divmod(layer.size, n)
            fair += share + (counted[chain] < odd)
            counted[chain] += 1
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
