"""Build cache: what the classic builder leaves behind, defined once for the collector and the reports.

Every build step commits an image whose parent is the previous step's, and the builder records
each image it makes (store.images.record_built). The *build cache* is those of them that nothing
names (no tag, no digest): the intermediate steps and the untagged results (a build without
`-t`, a tag moved to a newer build, the earlier stages of a multi-stage build). A built image
that has a name is an image like any other, and is cache again once its last name goes.

- An entry is *in use* when the mark keeps it even if every unnamed image went: a named image
  descends from it (it is a parent, grandparent, … of a named image), or a container, a pin or
  a live lease (a build in progress holds one) holds it or an image built on it. Any other
  entry is *reclaimable*.
- A *result* is an entry with no children: a build's untagged final image, dangling as Docker
  says. The other entries are *intermediates*.
- Sizes come from the graph, never by adding up image sizes (an image's size counts every
  layer under it). The cache's size is the bytes of the layers that only entries hold (no
  other image's chain has them); what is reclaimable is what the mark frees once every
  reclaimable entry goes (Graph.garbage). The two differ by what pins, containers and leases
  hold. An entry's own size is the layer its step made, if it made one (0 for a metadata step).
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import cached_property

from .graph import Graph


@dataclass(frozen=True)
class BuildCache:
    graph: Graph
    entries: frozenset[str]
    in_use: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, graph: Graph, doomed_containers: AbstractSet[str] = frozenset()) -> BuildCache:
        """The cache as it stands, or as it will once `doomed_containers` are gone (a system prune
        takes the stopped containers first, and then the cache they held)."""
        entries = frozenset(i for i, img in graph.images.items() if img.built and not img.named)
        if not entries:
            return cls(graph, entries)
        named = {i for i, img in graph.images.items() if img.named}
        held, _ = graph.mark(named, set(graph.containers) - doomed_containers)
        return cls(graph, entries, entries & held)

    @property
    def reclaimable(self) -> frozenset[str]:
        return self.entries - self.in_use

    def result(self, image_id: str) -> bool:
        return not self.graph.children.get(image_id)

    def own_layer(self, image_id: str) -> str | None:
        """The layer this entry's step made: the top of its chain unless its parent has it too."""
        images = self.graph.images
        chain = images[image_id].chain
        parent = images.get(images[image_id].parent or "")
        if not chain or (parent is not None and parent.chain[-1:] == chain[-1:]):
            return None
        return chain[-1]

    def shared(self, image_id: str) -> bool:
        """Its own layer is also in an image outside the cache, so removing the entry cannot free it."""
        return self.own_layer(image_id) in self._outside

    @cached_property
    def _outside(self) -> frozenset[str]:
        """Every layer in the chain of an image that is not cache."""
        return frozenset(c for i, img in self.graph.images.items() if i not in self.entries for c in img.chain)

    @cached_property
    def layers(self) -> frozenset[str]:
        """The layers that only entries hold: the cache's size."""
        held = {c for i in self.entries for c in self.graph.images[i].chain}
        return frozenset(held - self._outside)

    def size(self) -> tuple[int, int]:
        """(apparent, disk) bytes of the layers only entries hold."""
        return self.graph.layer_bytes(set(self.layers))

    def reclaimable_bytes(self) -> tuple[int, int]:
        """(apparent, disk) bytes the mark frees once every reclaimable entry goes."""
        return self.graph.layer_bytes(self.graph.garbage(set(self.reclaimable))[1])
