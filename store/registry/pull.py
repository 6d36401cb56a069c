"""`bilge pull`: manifest negotiation, platform choice, concurrent verified layer downloads.

Each layer blob streams from the registry through its digest check, decompression and
confined extraction in one pass (bounded memory: a chunk per worker), in a forked process of
its own (store.forks), so layers use every core. Layers whose chain is
already stored are leased, not fetched. Nothing is committed until every fetched layer
matched its digest and the config's diff_id; until then it all sits in the lease's ingest/
scratch, which goes with the lease on any error or ctrl-C.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .. import digest as dg
from .. import reference
from ..archive.intake import (
    Committer,
    ImageSpec,
    Layer,
    before_forking_ingests,
    check_layer,
    config_diff_ids,
    ingest_blob,
)
from ..core import Store
from ..db import write
from ..errors import DigestMismatch, InvalidInput
from ..forks import run_forked
from ..leases import Lease
from ..oci import mediatypes as mt
from ..oci import platforms
from ..oci.model import Descriptor, Index, Manifest, parse_document, platform_manifest
from ..oci.platforms import Platform
from ..progress import Progress, Silent
from ..reference import Reference
from . import auth, known
from .client import Client, scope
from .fetch import BlobReader

ACCEPT = ", ".join([mt.OCI_INDEX, mt.DOCKER_LIST, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST])
MANIFEST_LIMIT = 4 << 20
CONFIG_LIMIT = 16 << 20
WORKERS = 4


@dataclass
class Pulled:
    image_id: str
    name: str
    digest: str


class _Pull:
    def __init__(self, store: Store, client: Client, ref: Reference, progress: Progress) -> None:
        self.store = store
        self.client = client
        self.ref = ref
        self.progress = progress
        self.wanted = scope(ref.path, "pull")

    def manifest(self, name: str, described: str | None = None) -> tuple[str, Manifest | Index]:
        """(its digest, the manifest or index `name` is); `described`: the type the index said."""
        body, content_type = self.client.get_small(
            f"{self.ref.path}/manifests/{name}", self.wanted, ACCEPT, MANIFEST_LIMIT
        )
        digest = dg.sha256_bytes(body)
        if name.startswith("sha256:") and digest != name:
            raise DigestMismatch(f"manifest {name} from {self.ref.repository} hashes to {digest}")
        return digest, parse_document(body, f"manifest {name}", served=content_type, described=described)

    def entry(self, desc: Descriptor) -> Manifest | Index:
        return self.manifest(desc.digest, desc.media_type)[1]

    def image_manifest(self, platform: Platform) -> tuple[str, Manifest]:
        """(the digest to record as RepoDigest, the platform's image manifest)."""
        top_digest, top = self.manifest(self.ref.digest or self.ref.tag or reference.DEFAULT_TAG)
        return top_digest, platform_manifest(top, platform, self.entry, f"index {top_digest}")

    def config(self, desc: Descriptor) -> bytes:
        body, _ = self.client.get_small(f"{self.ref.path}/blobs/{desc.digest}", self.wanted, None, CONFIG_LIMIT)
        if dg.sha256_bytes(body) != desc.digest:
            raise DigestMismatch(f"config {desc.digest} from {self.ref.repository} hashes to {dg.sha256_bytes(body)}")
        return body

    def fetch(self, desc: Descriptor, lease: Lease, count_bytes: Callable[[int], None]) -> Layer:
        """Download, verify and extract one layer blob; runs in a forked child (store.forks)."""
        self.client.after_fork()
        reader = BlobReader(self.client, self.ref.path, desc.digest, desc.size, self.wanted, on_bytes=count_bytes)
        try:
            try:
                return ingest_blob(self.store, lease, reader, verified=desc.digest)  # type: ignore[arg-type]
            except InvalidInput:
                reader.drain()  # wrong bytes are reported as a digest mismatch, not as what broke first
                raise
        finally:
            reader.close()

    def fetch_all(self, todo: list[Descriptor], lease: Lease) -> dict[str, Layer]:
        """The missing layers, up to WORKERS at once, each in a process of its own, with a bar each."""
        before_forking_ingests()
        digests = [desc.digest for desc in todo]
        for desc in todo:
            self.progress.start(desc.digest, desc.size, "Pulling fs layer")
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
        layer_descs = manifest.layers
        spec = ImageSpec(
            self.config(manifest.config),
            [d.digest for d in layer_descs],
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
                    if desc.digest in fetched:
                        known.remember(
                            self.store.db,
                            desc.digest,
                            diff_id,
                            desc.media_type or mt.OCI_LAYER_GZIP,
                            desc.size,
                            self.ref.repository,
                        )
        self.progress.note(f"Digest: {top_digest}")
        name = f"{self.ref.familiar}:{self.ref.tag}" if self.ref.tag else f"{self.ref.familiar}@{self.ref.digest}"
        fresh = bool(fetched) or not had_image
        self.progress.note(f"Status: {'Downloaded newer image' if fresh else 'Image is up to date'} for {name}")
        return Pulled(loaded.image_id, name, top_digest)

    def missing(
        self, layer_descs: tuple[Descriptor, ...], diff_ids: tuple[str, ...], lease: Lease
    ) -> dict[str, Descriptor]:
        """Blobs to download, by digest; stored layers are leased now so no prune takes them."""
        todo: dict[str, Descriptor] = {}
        with write(self.store.db):
            for desc, chain in zip(layer_descs, dg.chain_ids(diff_ids)):
                if self.store.layers.intact(chain):
                    lease.add("layer", chain)
                    self.progress.finish(desc.digest, "Already exists")
                elif desc.digest not in todo:
                    todo[desc.digest] = desc
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
