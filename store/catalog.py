"""The store read whole, for the commands that look at every image at once.

`images`, `system df`, the collector and the reports all need the same picture: every image
with its layer chain, names, children and users, every layer's sizes, every container, which
of them pins and live leases hold, and which images a build made. It is loaded here, in one
query per table, so that each of those commands reads the store the same way and "dangling"
and "top level" mean one thing everywhere.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import groupby
from operator import itemgetter
from typing import Self

from .db import Database
from .reference import familiar_name
from .timeutil import parse_rfc3339

PIN_LABEL = "bilge.pin"


@dataclass(slots=True)
class ImageRecord:
    id: str
    parent: str | None
    created: float | None
    added: float
    last_used: float | None
    labels: dict[str, str]
    size: int
    chain: list[str] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)
    digests: list[tuple[str, str]] = field(default_factory=list)
    containers: int = 0
    running: int = 0
    pinned: bool = False
    leased: bool = False
    built_at: float | None = None

    @property
    def named(self) -> bool:
        return bool(self.tags or self.digests)

    @property
    def built(self) -> bool:
        """A build made it (ImageStore.record_built); the collector decides when that makes it cache."""
        return self.built_at is not None

    @property
    def used_at(self) -> float:
        """Last used, else when it arrived: the clock LRU policies run on."""
        return self.last_used or self.added


@dataclass(slots=True)
class LayerRecord:
    chain: str
    parent: str | None
    size: int
    disk: int
    leased: bool = False


@dataclass(slots=True)
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
    leased: bool = False  # a build step's, between its command's exit and its commit


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
    def load(cls, db: Database, layers: bool = True) -> Self:
        """The whole store; without `layers`, no layer rows and no chains (what `images` needs
        of them is each image's stored size, and they are most of the rows)."""
        loads = json.loads
        images = {
            r[0]: ImageRecord(r[0], r[1], parse_rfc3339(r[2]), r[3], r[4], loads(r[5]) if r[5] else {}, r[6] or 0)
            for r in db.execute("SELECT id, parent, created, added, last_used, labels, size FROM images")
        }
        layer_rows: dict[str, LayerRecord] = {}
        if layers:
            ordered = db.execute("SELECT image_id, chain_id FROM image_layers ORDER BY image_id, position")
            for image_id, rows in groupby(ordered, key=itemgetter(0)):
                images[image_id].chain = [chain for _, chain in rows]
            layer_rows = {
                r[0]: LayerRecord(r[0], r[1], r[2], r[3])
                for r in db.execute("SELECT chain_id, parent, size, disk FROM layers")
            }
        familiar = lru_cache(maxsize=None)(familiar_name)  # a repository has many tags
        for repo, tag, image_id in db.execute("SELECT repository, tag, image_id FROM tags ORDER BY repository, tag"):
            images[image_id].tags.append((familiar(repo), tag))
        for repo, digest, image_id in db.execute(
            "SELECT repository, digest, image_id FROM digests ORDER BY repository, digest"
        ):
            images[image_id].digests.append((familiar(repo), digest))
        for (image_id,) in db.execute("SELECT image_id FROM pins"):
            images[image_id].pinned = True
        for image_id, created in db.execute("SELECT image_id, created FROM build_cache"):
            images[image_id].built_at = created
        for img in images.values():
            if img.labels and pinned_by_label(img.labels):
                img.pinned = True
        leased_containers: set[str] = set()
        for kind, ref in db.execute(
            "SELECT r.kind, r.ref FROM lease_refs r JOIN leases l ON l.id = r.lease_id WHERE l.expires > ?",
            [time.time()],
        ):
            if kind == "image" and ref in images:
                images[ref].leased = True
            elif kind == "layer" and ref in layer_rows:
                layer_rows[ref].leased = True
            elif kind == "container":
                leased_containers.add(ref)
        containers = {
            r[0]: ContainerRecord(r[0], r[1], r[2], r[3], r[4], r[5], _labels(r[6]), r[7] or 0, r[8] or 0)
            for r in db.execute(
                "SELECT id, name, image_id, state, created, finished_at, labels, size_rw, disk_rw FROM containers"
            )
        }
        for c in containers.values():
            c.leased = c.id in leased_containers
            if c.image_id in images:
                images[c.image_id].containers += 1
                images[c.image_id].running += c.state == "running"
        children: dict[str, list[str]] = {}
        for img in images.values():
            if img.parent is not None and img.parent in images:
                children.setdefault(img.parent, []).append(img.id)
        return cls(images, layer_rows, containers, children)

    def dangling(self, image: ImageRecord) -> bool:
        """Docker's dangling: no name and nothing built on it (what `image prune` takes by default)."""
        return not image.named and not self.children.get(image.id)

    def top_level(self, image: ImageRecord) -> bool:
        """What `docker images` lists without -a: named, or nothing built on it (an untagged image
        with children is an intermediate)."""
        return image.named or not self.children.get(image.id)
