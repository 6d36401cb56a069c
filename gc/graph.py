"""The reference graph and the mark phase, over the store's catalog.

Roots are what must survive: images kept by the caller (everything a prune or rmi does not
select), images used by containers, pinned images, and whatever a live lease holds. Mark
walks image -> parent image -> its layers -> parent layers; whatever is unmarked is garbage,
and the sweep (gc/sweep.py) deletes exactly that.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet

from bilge.store.catalog import Catalog


class Graph(Catalog):
    def mark(self, kept: set[str], containers_kept: set[str] | None = None) -> tuple[set[str], set[str]]:
        """Images and layers reachable from the roots, given the images the caller keeps."""
        users = {c.image_id for cid, c in self.containers.items() if containers_kept is None or cid in containers_kept}
        roots = [i for i, img in self.images.items() if i in kept or i in users or img.pinned or img.leased]
        images = _closure(roots, {i: img.parent for i, img in self.images.items()})
        layer_roots = [c for i in images for c in self.images[i].chain]
        layer_roots += [c for c, layer in self.layers.items() if layer.leased]
        layers = _closure(layer_roots, {c: layer.parent for c, layer in self.layers.items()})
        return images, layers

    def garbage(
        self, doomed_images: set[str], doomed_containers: AbstractSet[str] = frozenset()
    ) -> tuple[set[str], set[str]]:
        """(images, layers) left unmarked if these images and containers go and nothing else changes."""
        kept_containers = set(self.containers) - set(doomed_containers)
        images, layers = self.mark(set(self.images) - doomed_images, kept_containers)
        return set(self.images) - images, set(self.layers) - layers

    def layer_bytes(self, chains: set[str]) -> tuple[int, int]:
        return (sum(self.layers[c].size for c in chains), sum(self.layers[c].disk for c in chains))

    def depth(self, chain: str) -> int:
        """How many layers lie under this one: removal goes top first."""
        depth = 0
        current = self.layers[chain].parent
        while current in self.layers:
            depth += 1
            current = self.layers[current].parent
        return depth


def _closure(roots: list[str], parent_of: dict[str, str | None]) -> set[str]:
    """Every node reachable from `roots` by following parents (the mark walk)."""
    marked: set[str] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node in marked or node not in parent_of:
            continue
        marked.add(node)
        parent = parent_of[node]
        if parent:
            stack.append(parent)
    return marked
