"""`bilge push`: layers (reused, mounted or uploaded), then the config, then the manifest.

For each layer the registry is asked first (HEAD) for any blob known to hold its diff_id,
then offered a cross-repository mount from a repository known to have one; only then is the
layer re-assembled from the store (verified against its diff_id as it streams, rule 5) and
gzip-compressed deterministically (fixed level, mtime 0, no name), so the same layer always
gives the same blob. A blob that fits in one chunk goes up in one PUT, larger ones in PATCH
chunks; the digest is computed on the way and recorded, so a second push uploads nothing.
The manifest goes last, once every blob it names is in place.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import httpx

from .. import digest as dg
from .. import reference
from ..core import Store
from ..db import write
from ..errors import InvalidInput, NotFound
from ..oci import mediatypes as mt
from ..oci.model import REGISTRY, Descriptor, Manifest
from ..progress import Progress, Silent
from ..reference import Reference
from . import auth, known
from .client import Cancelled, Client, RegistryError, scope
from .workers import run_all

GZIP_LEVEL = 6
UPLOAD_CHUNK = 8 << 20
WORKERS = 3


@dataclass
class Pushed:
    name: str
    tag: str
    digest: str
    size: int


@dataclass
class Blob:
    """A layer blob the registry now has, and the diff_id it holds."""

    media_type: str
    digest: str
    size: int
    diff_id: str


@dataclass
class _LayerJob:
    chain: str
    diff_id: str
    known: list[known.KnownBlob]
    tar_size: int


def gzip_chunks(tar: Iterable[bytes], chunk: int = UPLOAD_CHUNK) -> Iterator[bytes]:
    """Deterministic gzip of a layer tar in pieces of about `chunk` bytes (zlib's header has
    mtime 0 and no file name)."""
    z = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    buf = bytearray()
    for data in tar:
        buf += z.compress(data)
        if len(buf) >= chunk:
            yield bytes(buf)
            buf.clear()
    buf += z.flush()
    yield bytes(buf)


class _Push:
    def __init__(self, store: Store, client: Client, ref: Reference, progress: Progress) -> None:
        self.store = store
        self.client = client
        self.ref = ref
        self.progress = progress
        self.wanted = scope(ref.path, "pull", "push")

    # -- blobs ---------------------------------------------------------------------------------

    def upload(self, pieces: Iterator[bytes]) -> tuple[str, int]:
        """Upload a blob from its pieces: one PUT when it is one piece, else PATCH chunks."""
        resp = self.client.send("POST", self.client.url(f"{self.ref.path}/blobs/uploads/"), self.wanted, ok=(202,))
        location = self._location(resp)
        digest = hashlib.sha256()
        first = next(pieces)
        second = next(pieces, None)
        if second is None:
            digest.update(first)
            body, size = first, len(first)
        else:
            size = 0
            for piece in itertools.chain((first, second), pieces):
                if not piece:
                    continue
                digest.update(piece)
                headers = {
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{size}-{size + len(piece) - 1}",
                }
                resp = self.client.send("PATCH", location, self.wanted, ok=(202,), content=piece, headers=headers)
                location = self._location(resp)
                size += len(piece)
            body = b""
        name = "sha256:" + digest.hexdigest()
        self.client.send(
            "PUT",
            location,
            self.wanted,
            ok=(201,),
            content=body,
            params={"digest": name},
            headers={"Content-Type": "application/octet-stream"},
        )
        return name, size

    def _location(self, resp: httpx.Response) -> str:
        resp.close()
        location = resp.headers.get("location")
        if not location:
            raise RegistryError(f"{self.client.host}: upload answer without a Location")
        return str(resp.url.join(location))

    def mount(self, digest: str, source: str) -> bool:
        """Ask the registry to link a blob from another repository; False if it would not."""
        wanted = f"{self.wanted} {scope(source, 'pull')}"
        resp = self.client.send(
            "POST",
            self.client.url(f"{self.ref.path}/blobs/uploads/"),
            wanted,
            ok=(201, 202),
            params={"mount": digest, "from": source},
        )
        if resp.status_code == 201:
            resp.close()
            return True
        self.client.send("DELETE", self._location(resp), wanted, ok=(204, 404))  # the upload it opened instead
        return False

    def layer(self, job: _LayerJob) -> tuple[Blob, str]:
        """(the blob now in the registry, how it got there)."""
        diff_id = job.diff_id
        for blob in job.known:
            if self.client.blob_exists(self.ref.path, blob.digest, self.wanted):
                return Blob(blob.media_type, blob.digest, blob.size, diff_id), "Layer already exists"
        domain = self.ref.domain + "/"
        for blob in job.known:
            for repo in blob.repositories:
                if (
                    repo.startswith(domain)
                    and repo != self.ref.repository
                    and self.mount(blob.digest, repo[len(domain) :])
                ):
                    return Blob(
                        blob.media_type, blob.digest, blob.size, diff_id
                    ), f"Mounted from {reference.familiar_name(repo)}"
        self.progress.start(diff_id, job.tar_size, "Pushing")
        digest, size = self.upload(gzip_chunks(self._counted(diff_id, self.store.layers.tar(job.chain))))
        return Blob(mt.DOCKER_LAYER_GZIP, digest, size, diff_id), "Pushed"

    def _counted(self, key: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for data in chunks:
            if self.client.cancel.is_set():
                raise Cancelled("interrupted")
            self.progress.advance(key, len(data))
            yield data

    def config(self, image_id: str, data: bytes) -> None:
        if not self.client.blob_exists(self.ref.path, image_id, self.wanted):
            self.upload(iter([data]))

    def job(self, chain: str) -> _LayerJob:
        """What a worker needs to know about a layer, read up front on this thread (workers only
        read the layer's own row, when re-assembling it)."""
        diff_id = self.store.layers.get(chain)["diff_id"]
        return _LayerJob(chain, diff_id, known.blobs_for(self.store.db, diff_id), self.store.layers.tar_size(chain))

    # -- the whole image -----------------------------------------------------------------------

    def run(self, image_id: str) -> Pushed:
        self.progress.note(f"The push refers to repository [{self.ref.repository}]")

        def one(job: _LayerJob) -> Blob:
            blob, how = self.layer(job)
            self.progress.finish(blob.diff_id, how)
            return blob

        jobs = [self.job(chain) for chain in self.store.images.chain(image_id)]
        blobs = run_all(one, jobs, self.client.cancel, WORKERS)
        config = self.store.images.config_bytes(image_id)
        self.config(image_id, config)
        image = manifest(config, blobs)
        body = image.to_bytes(REGISTRY)
        tag = self.ref.tag or reference.DEFAULT_TAG
        self.client.send(
            "PUT",
            self.client.url(f"{self.ref.path}/manifests/{tag}"),
            self.wanted,
            ok=(201,),
            content=body,
            headers={"Content-Type": image.content_type},
        )
        digest = dg.sha256_bytes(body)
        with write(self.store.db):
            self.store.images.add_digest(image_id, Reference(self.ref.repository, None, digest))
            for blob in blobs:
                known.remember(
                    self.store.db, blob.digest, blob.diff_id, blob.media_type, blob.size, self.ref.repository
                )
        return Pushed(f"{self.ref.familiar}:{tag}", tag, digest, len(body))


def manifest(config: bytes, blobs: list[Blob]) -> Manifest:
    """Docker schema 2, as docker push writes it; OCI when a layer is zstd (Docker's has no zstd)."""
    oci = any(b.media_type == mt.OCI_LAYER_ZSTD for b in blobs)
    return Manifest.build(config, [Descriptor(b.media_type, b.digest, b.size) for b in blobs], oci)


def push(
    store: Store,
    name: str,
    insecure: bool = False,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Pushed:
    ref = reference.parse(name)
    if ref.digest:
        raise InvalidInput(f"cannot push a digest reference: {name}")
    with store.lease("push") as lease:  # held until the pushed digest is recorded
        try:
            image_id = store.images.hold(f"{ref.repository}:{ref.tag}", lease)
        except NotFound:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar}") from None
        client = Client(ref.domain, auth.lookup(ref.domain), insecure, cancel)
        try:
            return _Push(store, client, ref, progress or Silent()).run(image_id)
        finally:
            client.close()
