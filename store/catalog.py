"""The store read whole, for the commands that look at every image at once.

`images`, `system df`, the collector and the reports all need the same picture: every image
with its layer chain, names, children and users, every layer's sizes, every container, and
which of them pins and live leases hold. It is loaded here, in one query per table, so that
each of those commands reads the store the same way and "dangling" and "top level" mean one
thing everywhere.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Self

from .db import Database
from .reference import familiar_name
from .timeutil import parse_rfc3339

PIN_LABEL = "bilge.pin"


@dataclass
class ImageRecord:
    id: str
    parent: str | None
    created: float | None
    added: float
    last_used: float | None
    labels: dict[str, str]
    chain: list[str] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)
    digests: list[tuple[str, str]] = field(default_factory=list)
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
class LayerRecord:
    chain: str
    parent: str | None
    size: int
    disk: int
    leased: bool = False


@dataclass
class ContainerRecord:
    id: str
    name: str
    image_id: str
    state: str
    created: float
    finished: float | None
    labels: dict[str, str]
    size_rw: int
    disk_rw: int


def pinned_by_label(labels: dict[str, str]) -> bool:
    return labels.get(PIN_LABEL, "").lower() in ("true", "1", "yes")


def _labels(text: str | None) -> dict[str, str]:
    return json.loads(text) if text else {}


@dataclass
class Catalog:
    images: dict[str, ImageRecord]
    layers: dict[str, LayerRecord]
    containers: dict[str, ContainerRecord]
    children: dict[str, list[str]]

    @classmethod
    def load(cls, db: Database) -> Self:
        images = {
            r[0]: ImageRecord(r[0], r[1], parse_rfc3339(r[2]), r[3], r[4], _labels(r[5]))
            for r in db.execute("SELECT id, parent, created, added, last_used, labels FROM images")
        }
        for image_id, chain in db.execute("SELECT image_id, chain_id FROM image_layers ORDER BY image_id, position"):
            images[image_id].chain.append(chain)
        for repo, tag, image_id in db.execute("SELECT repository, tag, image_id FROM tags ORDER BY repository, tag"):
            images[image_id].tags.append((familiar_name(repo), tag))
        for repo, digest, image_id in db.execute(
            "SELECT repository, digest, image_id FROM digests ORDER BY repository, digest"
        ):
            images[image_id].digests.append((familiar_name(repo), digest))
        for (image_id,) in db.execute("SELECT image_id FROM pins"):
            images[image_id].pinned = True
        for img in images.values():
            img.pinned = img.pinned or pinned_by_label(img.labels)
        layers = {
            r[0]: LayerRecord(r[0], r[1], r[2], r[3])
            for r in db.execute("SELECT chain_id, parent, size, disk FROM layers")
        }
        for kind, ref in db.execute(
            "SELECT r.kind, r.ref FROM lease_refs r JOIN leases l ON l.id = r.lease_id WHERE l.expires > ?",
            [time.time()],
        ):
            if kind == "image" and ref in images:
                images[ref].leased = True
            elif kind == "layer" and ref in layers:
                layers[ref].leased = True
        containers = {
            r[0]: ContainerRecord(r[0], r[1], r[2], r[3], r[4], r[5], _labels(r[6]), r[7] or 0, r[8] or 0)
            for r in db.execute(
                "SELECT id, name, image_id, state, created, finished_at, labels, size_rw, disk_rw FROM containers"
            )
        }
        for c in containers.values():
            if c.image_id in images:
                images[c.image_id].containers += 1
                images[c.image_id].running += c.state == "running"
        children: dict[str, list[str]] = {}
        for img in images.values():
            if img.parent is not None and img.parent in images:
                children.setdefault(img.parent, []).append(img.id)
        return cls(images, layers, containers, children)

    def dangling(self, image: ImageRecord) -> bool:
        """Docker's dangling: no name and nothing built on it (what `image prune` takes by default)."""
        return not image.named and not self.children.get(image.id)

    def top_level(self, image: ImageRecord) -> bool:
        """What `docker images` lists without -a: named, or nothing built on it (an untagged image
        with children is an intermediate)."""
        return image.named or not self.children.get(image.id)

    def size(self, image: ImageRecord) -> int:
        """Docker's image Size: the apparent bytes of every layer in its chain."""
        return sum(self.layers[c].size for c in image.chain if c in self.layers)
