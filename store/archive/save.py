"""`bilge save`: one archive that both `docker load` generations accept.

Docker 25+ writes an OCI image layout (index.json, oci-layout, blobs/sha256/) and keeps the
classic manifest.json beside it; we write the same. Layers are stored uncompressed, so a
layer's blob digest is its diff_id, re-assembled from the store's tar-split and verified as
it streams (rule 5); each layer appears once however many images share it.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

from .. import digest as dg
from .. import reference, testpoints
from ..core import Store
from ..errors import DigestMismatch, InvalidInput
from ..layerfs.streams import ReadStream
from ..leases import Lease
from ..oci import mediatypes as mt
from ..oci.model import ArchiveEntry, ArchiveManifest, Descriptor, Index, Manifest, blob_path

_OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


@dataclass
class _Selected:
    image_id: str
    refs: list[reference.Reference] = field(default_factory=list)


class _ChunkReader(ReadStream):
    """A file object over an iterator of chunks, for tarfile.addfile."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buf) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buf += chunk
        if size < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:size], self._buf[size:]
        return out


def select(store: Store, names: list[str], lease: Lease | None) -> list[_Selected]:
    """Images to save with the names each carries, as `docker save` picks them; held by `lease`
    (None on a read-only store, which no prune can change) until the archive is written."""
    chosen: dict[str, _Selected] = {}
    for name in names:
        image_id = store.images.hold(name, lease) if lease else store.images.resolve(name)
        entry = chosen.setdefault(image_id, _Selected(image_id))
        for ref in _refs_for(store, name, image_id):
            if ref not in entry.refs:
                entry.refs.append(ref)
    return list(chosen.values())


def _refs_for(store: Store, name: str, image_id: str) -> list[reference.Reference]:
    if reference.is_image_id(name):
        return []
    try:
        ref = reference.parse(name, default_tag=False)
    except InvalidInput:
        return []
    if ref.digest:
        return []
    if ref.tag:
        return [ref] if store.images.resolve(str(ref)) == image_id else []
    tagged = [reference.parse(t) for t in store.images.repo_tags(image_id)]
    return [r for r in tagged if r.repository == ref.repository]


class _Writer:
    def __init__(self, store: Store, out: BinaryIO) -> None:
        self.store = store
        self.tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)
        self.written: set[str] = set()

    def _info(self, name: str, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.size = size
        ti.mtime = 0
        ti.mode = 0o755 if directory else 0o644
        ti.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
        return ti

    def start(self) -> None:
        for d in ("blobs", "blobs/sha256"):
            self.tar.addfile(self._info(d, directory=True))
        self.file("oci-layout", _OCI_LAYOUT)

    def file(self, name: str, data: bytes) -> None:
        self.tar.addfile(self._info(name, len(data)), io.BytesIO(data))

    def blob(self, data: bytes) -> str:
        digest = dg.sha256_bytes(data)
        name = blob_path(digest)
        if name not in self.written:
            self.written.add(name)
            self.file(name, data)
        return digest

    def layer(self, chain: str) -> Descriptor:
        row = self.store.layers.get(chain)
        size = self.store.layers.tar_size(chain)
        name = blob_path(row["diff_id"])
        if name not in self.written:
            self.written.add(name)
            chunks = self.store.layers.tar(chain)
            self.tar.addfile(self._info(name, size), _ChunkReader(chunks))
            for _ in chunks:  # tarfile stops at `size`; finishing the iterator runs the digest check
                raise DigestMismatch(f"layer {row['diff_id']} re-assembles longer than its recorded size")
        return Descriptor(mt.OCI_LAYER, row["diff_id"], size)

    def close(self) -> None:
        self.tar.close()

    def abort(self) -> None:
        """Flush and close tarfile's stream now, so it never writes into a file closed under it."""
        self.tar.fileobj.close()


def _write_image(
    store: Store, writer: _Writer, sel: _Selected, saved: set[str]
) -> tuple[list[Descriptor], ArchiveEntry]:
    """Write one image's blobs; return its index.json entries and its manifest.json entry.

    The entry names the image's Parent when that is saved too (`saved`), as `docker save` does:
    `docker load` then restores the link."""
    config = store.images.config_bytes(sel.image_id)
    found = dg.sha256_bytes(config)
    if found != sel.image_id:  # checked before a byte of it is written
        raise DigestMismatch(f"image {sel.image_id}: its config blob hashes to {found}: the config on disk was damaged")
    writer.blob(config)
    layers = [writer.layer(chain) for chain in store.images.chain(sel.image_id)]
    manifest = Manifest.build(config, layers, oci=True).to_bytes()
    desc = Descriptor(mt.OCI_MANIFEST, writer.blob(manifest), len(manifest))
    index = [_named(desc, ref) for ref in sel.refs] or [desc]
    parent = store.images.get(sel.image_id)["parent"]
    entry = ArchiveEntry(
        config=blob_path(sel.image_id),
        layers=tuple(blob_path(d.digest) for d in layers),
        repo_tags=tuple(f"{r.familiar}:{r.tag}" for r in sel.refs) or None,
        parent=parent if parent in saved - {sel.image_id} else None,
    )
    return index, entry


def _named(desc: Descriptor, ref: reference.Reference) -> Descriptor:
    """An index.json entry as Docker 25+ names it: by the full reference, and by the tag alone."""
    tag = ref.tag or reference.DEFAULT_TAG
    return replace(desc, annotations={mt.IMAGE_NAME_ANNOTATION: f"{ref.repository}:{tag}", mt.REF_NAME_ANNOTATION: tag})


def write_archive(store: Store, images: list[_Selected], out: BinaryIO) -> None:
    writer = _Writer(store, out)
    try:
        writer.start()
        index: list[Descriptor] = []
        archive: list[ArchiveEntry] = []
        saved = {sel.image_id for sel in images}
        for sel in images:
            entries, entry = _write_image(store, writer, sel, saved)
            index += entries
            archive.append(entry)
        writer.file("index.json", Index(mt.OCI_INDEX, tuple(index)).to_bytes())
        writer.file("manifest.json", ArchiveManifest(tuple(archive)).to_bytes())
        writer.close()
    except BaseException:
        writer.abort()
        raise


def save(store: Store, names: list[str], output: Path | None, stdout: BinaryIO) -> None:
    """Write the archive to `output` atomically (nothing half-written), or stream it to stdout.

    A symlink is written through (its target replaced), and what is not a regular file (a
    device, a FIFO) is written into, as `docker save -o` does: renaming over /dev/null would
    destroy it."""
    with nullcontext() if store.db.read_only else store.lease("save") as lease:
        images = select(store, names, lease)
        testpoints.reached("save")
        _write_to(store, images, output, stdout)


def _write_to(store: Store, images: list[_Selected], output: Path | None, stdout: BinaryIO) -> None:
    if output is None:
        write_archive(store, images, stdout)
        return
    given = output
    output = Path(os.path.realpath(output))
    if output.is_dir():
        raise InvalidInput(f"cannot write the archive to {given}: it is a directory (name a file in it)")
    if output.exists() and not output.is_file():
        with open(output, "wb") as f:
            write_archive(store, images, f)
        return
    if not output.parent.is_dir():
        raise InvalidInput(f"cannot write the archive to {given}: no such directory {output.parent}")
    try:
        fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.")
    except OSError as exc:  # the temporary file is ours: the user named `given`
        raise InvalidInput(f"cannot write the archive to {given}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write_archive(store, images, f)
        os.replace(tmp, output)
    except BaseException:
        os.unlink(tmp)
        raise
