"""The reference graph, loaded in a few set-based queries, and the mark phase.

Roots are what must survive: images kept by the caller (everything a prune does not
select), images used by containers, pinned images, and whatever a live lease holds. Mark
walks image -> parent image -> its layers -> parent layers; whatever is unmarked is garbage.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from bilge.store.db import Database
from bilge.store.reference import familiar_name
from bilge.store.timeutil import parse_rfc3339

PIN_LABEL = "bilge.pin"


@dataclass
class ImageNode:
    id: str
    parent: str | None
    created: float | None
    added: float
    last_used: float | None
    labels: dict[str, str]
    chain: list[str] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)
    digests: int = 0
    containers: int = 0
    running: int = 0
    pinned: bool = False
    leased: bool = False

    @property
    def named(self) -> bool:
        return bool(self.tags or self.digests)

    @property
    def used_at(self) -> float:
        """Last used, else when it arrived: the clock LRU policies run on."""
        return self.last_used or self.added


@dataclass
class LayerNode:
    chain: str
    parent: str | None
    size: int
    disk: int
    leased: bool = False


@dataclass
class ContainerNode:
    id: str
    name: str
    image_id: str
    state: str
    created: float
    finished: float | None
    labels: dict[str, str]
    size_rw: int
    disk_rw: int


@dataclass
class Graph:
    images: dict[str, ImageNode]
    layers: dict[str, LayerNode]
    containers: dict[str, ContainerNode]
    children: dict[str, list[str]]

    @classmethod
    def load(cls, db: Database) -> Graph:
        now = time.time()
        images = {
            r["id"]: ImageNode(
                r["id"],
                r["parent"],
                parse_rfc3339(r["created"]),
                r["added"],
                r["last_used"],
                json.loads(r["labels"]) if r["labels"] else {},
            )
            for r in db.query("SELECT id, parent, created, added, last_used, labels FROM images")
        }
        for image_id, chain in db.execute("SELECT image_id, chain_id FROM image_layers ORDER BY image_id, position"):
            images[image_id].chain.append(chain)
        for repo, tag, image_id in db.execute("SELECT repository, tag, image_id FROM tags ORDER BY repository, tag"):
            images[image_id].tags.append((familiar_name(repo), tag))
        for image_id, count in db.execute("SELECT image_id, COUNT(*) FROM digests GROUP BY image_id"):
            images[image_id].digests = count
        for (image_id,) in db.execute("SELECT image_id FROM pins"):
            images[image_id].pinned = True
        for img in images.values():
            img.pinned = img.pinned or img.labels.get(PIN_LABEL, "").lower() in ("true", "1", "yes")
        layers = {
            r[0]: LayerNode(r[0], r[1], r[2], r[3])
            for r in db.execute("SELECT chain_id, parent, size, disk FROM layers")
        }
        for kind, ref in db.execute(
            "SELECT r.kind, r.ref FROM lease_refs r JOIN leases l ON l.id = r.lease_id WHERE l.expires > ?", [now]
        ):
            if kind == "image" and ref in images:
                images[ref].leased = True
            elif kind == "layer" and ref in layers:
                layers[ref].leased = True
        containers = {
            r["id"]: ContainerNode(
                r["id"],
                r["name"],
                r["image_id"],
                r["state"],
                r["created"],
                r["finished_at"],
                json.loads(r["labels"]) if r["labels"] else {},
                r["size_rw"] or 0,
                r["disk_rw"] or 0,
            )
            for r in db.query(
                "SELECT id, name, image_id, state, created, finished_at, labels, size_rw, disk_rw FROM containers"
            )
        }
        for c in containers.values():
            if c.image_id in images:
                images[c.image_id].containers += 1
                images[c.image_id].running += c.state == "running"
        children: dict[str, list[str]] = {}
        for img in images.values():
            if img.parent in images:
                children.setdefault(img.parent, []).append(img.id)
        return cls(images, layers, containers, children)

    def mark(self, kept: set[str], containers_kept: set[str] | None = None) -> tuple[set[str], set[str]]:
        """Images and layers reachable from the roots, given the images the caller keeps."""
        users = {c.image_id for cid, c in self.containers.items() if containers_kept is None or cid in containers_kept}
        roots = [i for i in self.images if i in kept or i in users or self.images[i].pinned or self.images[i].leased]
        images = _closure(roots, {i: img.parent for i, img in self.images.items()})
        layer_roots = [c for i in images for c in self.images[i].chain]
        layer_roots += [c for c, layer in self.layers.items() if layer.leased]
        layers = _closure(layer_roots, {c: layer.parent for c, layer in self.layers.items()})
        return images, layers

    def garbage(self, doomed_images: set[str], doomed_containers: set[str] = frozenset()) -> tuple[set[str], set[str]]:
        """(images, layers) that go if these images and containers are removed and nothing else changes."""
        kept_containers = set(self.containers) - set(doomed_containers)
        images, layers = self.mark(set(self.images) - doomed_images, kept_containers)
        return set(self.images) - images, set(self.layers) - layers

    def layer_bytes(self, chains: set[str]) -> tuple[int, int]:
        return (sum(self.layers[c].size for c in chains), sum(self.layers[c].disk for c in chains))

    def top_level(self) -> list[ImageNode]:
        """What `docker images` lists without -a: named, or nothing built on it."""
        return [i for i in self.images.values() if i.named or not self.children.get(i.id)]

    def dangling(self, image: ImageNode) -> bool:
        return not image.named and not self.children.get(image.id)


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
