"""`bilge explain IMAGE`: why removing an image frees what it frees.

For each of its layers: who else holds it (other images, build cache, containers, pins,
leases), and whether removing the image frees it. Both figures come from the mark
(Graph.garbage), never from adding up sizes: what removing it frees is what `rmi` takes (the
image and the untagged parents only it stood on); what would free the rest is the same mark
with every other holder gone too, which pins and leases still hold against.
"""

from __future__ import annotations

from dataclasses import dataclass

from bilge.gc.buildcache import BuildCache
from bilge.gc.graph import Graph
from bilge.gc.policy import with_orphaned_parents

from .top import display_name, label


@dataclass(frozen=True)
class LayerHolders:
    chain: str
    size: int
    disk: int
    freed: bool  # removing the image frees it
    images: list[str]  # other top-level images holding it, by name
    build_cache: int  # build-cache entries (other than the image) holding it
    containers: list[str]  # containers whose image holds it, by name
    pins: list[str]  # pinned images holding it
    leases: int  # live leases holding it (on the layer or an image holding it)


@dataclass(frozen=True)
class Explanation:
    image_id: str
    name: str
    names: list[str]  # every tag: removing the image means untagging all of them
    layers: list[LayerHolders]
    frees: tuple[int, int]  # (bytes, disk) removing it frees
    rest: tuple[int, int]  # (bytes, disk) of its layers that removal leaves
    also_images: list[str]  # what else must go to free the rest
    also_containers: list[str]
    also_cache: int  # build-cache entries among them
    blocked_by: list[str]  # pins and leases that keep some of it whatever goes
    frees_with_all: tuple[int, int]  # (bytes, disk) freed if everything in also_* went too


def explain(graph: Graph, image_id: str) -> Explanation:
    img = graph.images[image_id]
    in_use = {c.image_id for c in graph.containers.values()}
    doomed = with_orphaned_parents(graph, {image_id}, in_use - {image_id})
    _, freed = graph.garbage(doomed)
    cache = BuildCache.of(graph)
    own = set(img.chain)
    holders: dict[str, list[str]] = {chain: [] for chain in own}  # image IDs other than doomed holding each
    for other in graph.images.values():
        if other.id not in doomed:
            for chain in own.intersection(other.chain):
                holders[chain].append(other.id)
    layers = []
    for chain in img.chain:
        layer = graph.layers.get(chain)
        if layer is None:
            continue
        others = [graph.images[i] for i in holders[chain]]
        users = [c for c in graph.containers.values() if chain in graph.images[c.image_id].chain]
        layers.append(
            LayerHolders(
                chain=chain,
                size=layer.size,
                disk=layer.disk,
                freed=chain in freed,
                images=sorted(label(o) for o in others if graph.top_level(o) and o.id not in cache.entries),
                build_cache=sum(1 for o in others if o.id in cache.entries),
                containers=sorted(c.name for c in users),
                pins=sorted(label(o) for o in [img, *others] if o.pinned),
                leases=int(layer.leased) + sum(1 for o in [img, *others] if o.leased),
            )
        )
    kept = [layer for layer in layers if not layer.freed]
    also = {i for layer in kept for i in holders[layer.chain]}
    also_containers = sorted({c.id for c in graph.containers.values() if set(graph.images[c.image_id].chain) & own})
    _, freed_all = graph.garbage(doomed | also, set(also_containers))
    return Explanation(
        image_id=image_id,
        name=display_name(img),
        names=[f"{repo}:{tag}" for repo, tag in img.tags],
        layers=layers,
        frees=graph.layer_bytes(freed),
        rest=(sum(layer.size for layer in kept), sum(layer.disk for layer in kept)),
        also_images=sorted(
            label(graph.images[i]) for i in also if graph.top_level(graph.images[i]) and i not in cache.entries
        ),
        also_containers=sorted(graph.containers[c].name for c in also_containers),
        also_cache=len(also & cache.entries),
        blocked_by=sorted(
            {p for layer in kept for p in layer.pins} | ({"a lease"} if any(x.leases for x in kept) else set())
        ),
        frees_with_all=graph.layer_bytes(freed_all & own),
    )
