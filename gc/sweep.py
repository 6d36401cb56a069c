"""The sweep: delete exactly what the mark leaves unmarked (rule 3).

prune and rmi only choose what to let go: images (and, for prune, containers). The mark
then decides what that leaves unreachable, and only that is deleted, in the caller's write
transaction: image rows, layer rows, and the queue of their directories for the trash.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from bilge.store.core import Store
from bilge.store.db import write

from .graph import Graph
from .policy import children_first, with_orphaned_parents


@dataclass(frozen=True)
class Swept:
    """What went, in the order Docker reports it: images children first, layers top first."""

    images: list[str]
    layers: list[str]


def sweep(store: Store, graph: Graph, images: set[str], containers: AbstractSet[str] = frozenset()) -> Swept:
    """Inside the caller's write transaction, with `graph` loaded in it: delete what is garbage
    once `images` and `containers` go. The containers' own rows are the caller's to drop."""
    dead_images, dead_layers = graph.garbage(images, containers)
    swept = Swept(
        children_first(graph, dead_images),
        sorted(dead_layers, key=lambda chain: (-graph.depth(chain), chain)),
    )
    store.images.delete_rows(swept.images)
    store.layers.delete_rows(swept.layers)
    return swept


@dataclass(frozen=True)
class Removed:
    """`rmi` of one name: Docker's `Untagged:` lines, then `Deleted:` images and layers."""

    untagged: list[str]
    images: list[str]
    layers: list[str]


def remove_image(store: Store, name: str, force: bool = False) -> Removed:
    """`docker rmi NAME`: the store applies rmi's rules; the image and the untagged parents it
    leaves orphaned go, with what the mark then finds unreachable."""
    with write(store.db):
        removal = store.images.prepare_removal(name, force)
        if removal.image_id is None:
            return Removed(removal.untagged, [], [])
        graph = Graph.load(store.db)
        in_use = {c.image_id for c in graph.containers.values()}
        swept = sweep(store, graph, with_orphaned_parents(graph, {removal.image_id}, in_use))
    return Removed(removal.untagged, swept.images, swept.layers)
