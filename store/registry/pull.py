"""`bilge pull`: manifest negotiation, platform choice, concurrent verified layer downloads.

Each layer blob streams from the registry through its digest check, decompression and
confined extraction in one pass (bounded memory: a chunk per worker), in a forked process of
its own (store.forks), so layers use every core. Layers whose chain is
already stored are leased, not fetched. Nothing is committed until every fetched layer
matched its digest and the config's diff_id; until then it all sits in the lease's ingest/
scratch, which goes with the lease on any error or ctrl-C.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from .. import digest as dg
from .. import reference
from ..archive.intake import Committer, ImageSpec, Layer, check_layer, choose_platform, config_diff_ids, ingest_blob
from ..core import Store
from ..db import write
from ..errors import DigestMismatch, InvalidInput
from ..forks import run_forked
from ..leases import Lease
from ..oci import mediatypes as mt
from ..oci import platforms
from ..oci.platforms import Platform
from ..progress import Progress, Silent
from ..reference import Reference
from . import auth, known
from .client import Client, scope
from .fetch import BlobReader

ACCEPT = ", ".join([mt.OCI_INDEX, mt.DOCKER_LIST, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST])
LAYER_TYPES = {mt.DOCKER_LAYER_GZIP, mt.DOCKER_LAYER, mt.OCI_LAYER, mt.OCI_LAYER_GZIP, mt.OCI_LAYER_ZSTD}
MANIFEST_LIMIT = 4 << 20
CONFIG_LIMIT = 16 << 20
WORKERS = 4


@dataclass
class Pulled:
    image_id: str
    name: str
    digest: str


@dataclass
class Manifest:
    digest: str
    media_type: str
    doc: dict


def descriptor(desc: object, what: str) -> dict:
    """A descriptor with a canonical digest and a sane size, or a clear error."""
    if not isinstance(desc, dict) or not isinstance(desc.get("digest"), str):
        raise InvalidInput(f"{what}: malformed descriptor")
    dg.validate(desc["digest"])
    size = desc.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidInput(f"{what} {desc['digest']}: descriptor has no valid size")
    return desc


def parse_manifest(body: bytes, content_type: str, name: str) -> Manifest:
    """Decode a manifest or index; the served type and the declared type must agree."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"manifest {name} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"manifest {name} is not a JSON object")
    known_types = mt.INDEXES | mt.MANIFESTS
    declared = doc.get("mediaType")
    if declared and content_type in known_types and declared != content_type:
        raise InvalidInput(f"manifest {name}: served as {content_type} but declares {declared}")
    media = declared or (content_type if content_type in known_types else None)
    if media is None:
        media = mt.OCI_INDEX if "manifests" in doc else mt.OCI_MANIFEST if "config" in doc else content_type
    if media not in known_types:
        raise InvalidInput(f"manifest {name}: unsupported media type {media!r} (schema 1 images are not supported)")
    return Manifest(dg.sha256_bytes(body), media, doc)


class _Pull:
    def __init__(self, store: Store, client: Client, ref: Reference, progress: Progress) -> None:
        self.store = store
        self.client = client
        self.ref = ref
        self.progress = progress
        self.wanted = scope(ref.path, "pull")

    def manifest(self, name: str, expect: str | None = None) -> Manifest:
        body, content_type = self.client.get_small(
            f"{self.ref.path}/manifests/{name}", self.wanted, ACCEPT, MANIFEST_LIMIT
        )
        found = parse_manifest(body, content_type, name)
        if name.startswith("sha256:") and found.digest != name:
            raise DigestMismatch(f"manifest {name} from {self.ref.repository} hashes to {found.digest}")
        if expect and found.media_type != expect:
            raise InvalidInput(f"manifest {name}: the index says {expect}, the registry serves {found.media_type}")
        return found

    def image_manifest(self, platform: Platform) -> tuple[str, Manifest]:
        """(the digest to record as RepoDigest, the platform's image manifest)."""
        top = self.manifest(self.ref.digest or self.ref.tag or reference.DEFAULT_TAG)
        if top.media_type not in mt.INDEXES:
            return top.digest, top
        entry = descriptor(choose_platform(top.doc, platform), "index entry")
        chosen = self.manifest(entry["digest"], expect=entry.get("mediaType"))
        if chosen.media_type in mt.INDEXES:
            raise InvalidInput(f"index {top.digest}: entry for {platform} is another index")
        return top.digest, chosen

    def config(self, desc: dict) -> bytes:
        body, _ = self.client.get_small(f"{self.ref.path}/blobs/{desc['digest']}", self.wanted, None, CONFIG_LIMIT)
        if dg.sha256_bytes(body) != desc["digest"]:
            raise DigestMismatch(
                f"config {desc['digest']} from {self.ref.repository} hashes to {dg.sha256_bytes(body)}"
            )
        return body

    def fetch(self, desc: dict, lease: Lease, count_bytes: Callable[[int], None]) -> Layer:
        """Download, verify and extract one layer blob; runs in a forked child (store.forks)."""
        self.client.after_fork()
        reader = BlobReader(self.client, self.ref.path, desc["digest"], desc["size"], self.wanted, on_bytes=count_bytes)
        try:
            try:
                return ingest_blob(self.store, lease, reader, verified=desc["digest"])  # type: ignore[arg-type]
            except InvalidInput:
                reader.drain()  # wrong bytes are reported as a digest mismatch, not as what broke first
                raise
        finally:
            reader.close()

    def fetch_all(self, todo: list[dict], lease: Lease) -> dict[str, Layer]:
        """The missing layers, up to WORKERS at once, each in a process of its own, with a bar each."""
        digests = [desc["digest"] for desc in todo]
        for desc in todo:
            self.progress.start(desc["digest"], desc["size"], "Pulling fs layer")
        layers = run_forked(
            lambda desc, count: self.fetch(desc, lease, count),
            todo,
            WORKERS,
            on_start=lambda i: self.progress.status(digests[i], "Downloading"),
            on_bytes=lambda i, n: self.progress.advance(digests[i], n),
            on_done=lambda i: self.progress.finish(digests[i], "Pull complete"),
        )
        return dict(zip(digests, layers))

    def run(self, platform: Platform) -> Pulled:
        self.progress.note(f"{self.ref.tag or self.ref.digest}: Pulling from {self.ref.path}")
        top_digest, manifest = self.image_manifest(platform)
        config_desc = descriptor(manifest.doc.get("config"), "config")
        layer_descs = [descriptor(d, "layer") for d in manifest.doc.get("layers") or []]
        for desc in layer_descs:
            if desc.get("mediaType", mt.OCI_LAYER_GZIP) not in LAYER_TYPES:
                raise InvalidInput(f"layer {desc['digest']}: unsupported media type {desc.get('mediaType')!r}")
        spec = ImageSpec(
            self.config(config_desc),
            [d["digest"] for d in layer_descs],
            tags=[f"{self.ref.repository}:{self.ref.tag}"] if self.ref.tag else [],
        )
        diff_ids = config_diff_ids(spec)
        image_id = dg.sha256_bytes(spec.config)
        had_image = self.store.images.exists(image_id)
        with self.store.lease("pull") as lease:
            fetched = self.fetch_all(list(self.missing(layer_descs, diff_ids, lease).values()), lease)
            for i, (name, want) in enumerate(zip(spec.layers, diff_ids)):
                if name in fetched:
                    check_layer(i, name, want, fetched[name])
            loaded = Committer(self.store, fetched.__getitem__, lease).image(spec)
            with write(self.store.db):
                self.store.images.add_digest(loaded.image_id, Reference(self.ref.repository, None, top_digest))
                for desc, diff_id in zip(layer_descs, diff_ids):
                    if desc["digest"] in fetched:
                        known.remember(
                            self.store.db,
                            desc["digest"],
                            diff_id,
                            desc.get("mediaType", mt.OCI_LAYER_GZIP),
                            desc["size"],
                            self.ref.repository,
                        )
        self.progress.note(f"Digest: {top_digest}")
        name = f"{self.ref.familiar}:{self.ref.tag}" if self.ref.tag else f"{self.ref.familiar}@{self.ref.digest}"
        fresh = bool(fetched) or not had_image
        self.progress.note(f"Status: {'Downloaded newer image' if fresh else 'Image is up to date'} for {name}")
        return Pulled(loaded.image_id, name, top_digest)

    def missing(self, layer_descs: list[dict], diff_ids: list[str], lease: Lease) -> dict[str, dict]:
        """Blobs to download, by digest; stored layers are leased now so no prune takes them."""
        todo: dict[str, dict] = {}
        with write(self.store.db):
            for desc, chain in zip(layer_descs, dg.chain_ids(diff_ids)):
                if self.store.layers.exists(chain):
                    lease.add("layer", chain)
                    self.progress.finish(desc["digest"], "Already exists")
                elif desc["digest"] not in todo:
                    todo[desc["digest"]] = desc
        return todo


def pull(
    store: Store, name: str, platform: Platform | None = None, insecure: bool = False, progress: Progress | None = None
) -> Pulled:
    """Pull `name` into the store; the reference is checked before any network I/O."""
    ref = reference.parse(name)
    client = Client(ref.domain, auth.lookup(ref.domain), insecure)
    try:
        return _Pull(store, client, ref, progress or Silent()).run(platform or platforms.host())
    finally:
        client.close()
