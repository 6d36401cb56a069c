"""What `load` and `pull` share: a layer blob in (verified, decompressed, extracted), then the
image committed layer by layer in chain order.

A blob's compression is sniffed from its bytes, never from a name or a media type, and its
compressed digest is hashed on the way through, so one pass verifies, decompresses and
extracts. Committing is separate, so nothing becomes visible before every layer of an image
has been checked against the config's diff_ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from .. import digest as dg
from .. import reference
from ..core import Store
from ..db import write
from ..errors import DigestMismatch, InvalidInput
from ..layerfs.compression import decompressor, detect
from ..layers import Ingested
from ..leases import Lease
from ..oci.model import ImageConfig


@dataclass
class ImageSpec:
    """One image to commit: its config, its layers by source name, its names, the Parent its
    archive names (set by `load` once every image of the archive is in)."""

    config: bytes
    layers: list[str]
    tags: list[str] = field(default_factory=list)
    parent: str | None = None


@dataclass
class Loaded:
    image_id: str
    tags: list[str] = field(default_factory=list)
    replaced: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Layer:
    ingested: Ingested
    blob_digest: str


class HashingReader:
    """Hashes what passes through, so the compressed digest costs no second read."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.hash.update(data)
        return data


def ingest_blob(store: Store, lease: Lease, raw: BinaryIO, verified: str | None = None) -> Layer:
    """Extract a layer blob; its digest is the diff_id when uncompressed, else hashed on the way.

    `verified` is the blob's digest when `raw` checks it itself (a registry download), so the
    compressed bytes are not hashed a second time.
    """
    kind, raw = detect(raw)
    if kind == "none":
        ingested = store.layers.ingest(raw, lease)
        return Layer(ingested, ingested.info.diff_id)
    source = raw if verified else HashingReader(raw)
    ingested = store.layers.ingest(decompressor(kind, source), lease)  # type: ignore[arg-type]
    while source.read(1 << 20):
        pass
    return Layer(ingested, verified or "sha256:" + source.hash.hexdigest())  # type: ignore[union-attr]


def before_forking_ingests() -> None:
    """Import what ingesting a layer uses, in the parent of workers that each ingest one (a
    pull's, a plain archive's load): forked, they inherit it, instead of each importing the
    extractor and zstandard (for the tar-split) again."""
    import zstandard  # noqa: F401

    from ..layerfs import extract  # noqa: F401


def config_diff_ids(spec: ImageSpec) -> tuple[str, ...]:
    """The config's diff_ids, one per manifest layer."""
    diff_ids = ImageConfig.parse(spec.config).diff_ids
    if len(diff_ids) != len(spec.layers):
        raise InvalidInput(
            f"image {dg.sha256_bytes(spec.config)}: config lists {len(diff_ids)} layers, manifest {len(spec.layers)}"
        )
    return diff_ids


def check_layer(position: int, name: str, want: str, layer: Layer) -> None:
    got = layer.ingested.info.diff_id
    if got != want:
        raise DigestMismatch(f"layer {position} ({name}) has diff_id {got}, the config says {want}")


def check_tags(spec: ImageSpec) -> None:
    """Every name an image would get, parsed before anything is committed: a bad one found
    after the commit would leave the image behind as `<none>`."""
    for text in spec.tags:
        reference.parse(text)


def check_diff_ids(spec: ImageSpec, layer: Callable[[str], Layer]) -> tuple[str, ...]:
    diff_ids = config_diff_ids(spec)
    for i, (want, name) in enumerate(zip(diff_ids, spec.layers)):
        check_layer(i, name, want, layer(name))
    return diff_ids


class Committer:
    """Commits each extracted layer once; the same diff under a second parent gets a copy.

    A layer whose chain is already stored is only leased: `layer` (name -> extracted Layer)
    is not even asked for it, which is what lets a pull skip downloading it.
    """

    def __init__(self, store: Store, layer: Callable[[str], Layer], lease: Lease) -> None:
        self.store = store
        self.source_layer = layer
        self.lease = lease
        self.committed: dict[str, str] = {}

    def layer(self, name: str, diff_id: str, parent: str | None) -> str:
        chain = dg.chain_id(parent, diff_id)
        with write(self.store.db):
            if self.store.layers.intact(chain):
                self.lease.add("layer", chain)
                return chain
        ingested = self.source_layer(name).ingested
        if name in self.committed:
            ingested = self.store.layers.copy_of(self.committed[name], ingested.info, self.lease)
        self.committed[name] = chain
        return self.store.layers.commit(ingested, parent, self.lease)

    def image(self, spec: ImageSpec) -> Loaded:
        """Commit the layers (checked beforehand with `check_diff_ids`), then the image and its tags."""
        parent_chain: str | None = None
        for name, diff_id in zip(spec.layers, config_diff_ids(spec)):
            parent_chain = self.layer(name, diff_id, parent_chain)
        images = self.store.images
        result = Loaded(images.create(spec.config, self.lease))
        for text in spec.tags:
            ref = reference.parse(text)
            old = images.tag(result.image_id, ref)
            result.tags.append(f"{ref.familiar}:{ref.tag}")
            if old:
                result.replaced.append((result.tags[-1], old))
        return result
