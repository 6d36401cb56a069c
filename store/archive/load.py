"""`bilge load`: docker-archive (legacy and Docker 25+), OCI layout tar or directory, any compression.

Sources are adapters with one small interface (`json`, `layer`, `has`): a tar archive is
read in a single streaming pass, so stdin works and nothing is spooled (small members are
kept in memory, anything that looks like a layer is extracted straight into ingest/ under
the load's lease); an OCI layout directory is read on demand. An uncompressed archive in a
regular file is read the same way except for its layers: each is only noted where it lies,
and once the whole archive is read they are extracted in forked processes (store.forks), each
reading its own part of the file, so layers use every core as a pull's do. Images are
committed after the manifests say which layers they need; unused extractions go with the lease.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import stat
import tarfile
from functools import partial
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from .. import digest as dg
from .. import reference
from ..core import Store
from ..errors import DigestMismatch, InvalidInput, Truncated
from ..forks import run_forked
from ..layerfs.compression import MAGICS, Prefixed, decompressor, detect
from ..layerfs.streams import ForwardReader, ReadStream, Slice, members, open_tar
from ..leases import Lease
from ..oci import mediatypes as mt
from ..oci import platforms
from ..oci.model import (
    ArchiveManifest,
    Descriptor,
    ImageConfig,
    Index,
    Manifest,
    blob_path,
    parse_document,
    platform_manifest,
)
from ..oci.platforms import Platform
from ..timeutil import parse_rfc3339
from .intake import Committer, ImageSpec, Layer, Loaded, before_forking_ingests, check_diff_ids, check_tags, ingest_blob

# What an archive's documents (manifest.json, index.json, configs, manifests) may add up to,
# kept in memory until the images are committed: real ones are kilobytes, large ones a few MiB.
MAX_DOCUMENTS = 256 << 20
# What may follow the end of the archive's tar: zero padding, a few KiB in real archives.
MAX_TRAILER = 16 << 20
_MAX_LINK_DEPTH = 16


class Source(Protocol):
    def has(self, name: str) -> bool: ...
    def small(self, name: str) -> bytes: ...
    def layer(self, name: str) -> Layer: ...


def _looks_like_layer(head: bytes) -> bool:
    return (
        any(head.startswith(magic) for magic in MAGICS.values())
        or head[257:262] == b"ustar"
        or (len(head) >= 512 and not head.strip(b"\0"))
    )


def _clean(name: str) -> str:
    return posixpath.normpath("/" + name).lstrip("/")


class _Outer(ReadStream):
    """The archive's own (decompressed) stream: its compression ending early is the archive's
    truncation, not a layer's."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw

    def read(self, size: int | None = -1) -> bytes:
        try:
            return self.raw.read(-1 if size is None else size)
        except Truncated:
            raise InvalidInput("archive is truncated: its compressed stream ends early") from None


def _truncated(name: str, size: int) -> InvalidInput:
    return InvalidInput(f"archive is truncated: it ends inside {name!r} (the archive says it has {size} bytes)")


class _Seeking(ForwardReader):
    """A regular file under tarfile: a member is skipped by seeking, not read. A seek stops at
    the file's end, where reading would, so a cut archive fails as a streamed one does."""

    def __init__(self, src: BinaryIO, size: int) -> None:
        super().__init__(src)
        self.size = size

    def _forward(self, target: int) -> None:
        self.pos = self.src.seek(min(target, self.size))


class _Region(ReadStream):
    """`size` bytes of a file from `offset`, read with pread: forked children share the parent's
    open file, whose one position none of them may move."""

    def __init__(self, fd: int, offset: int, size: int) -> None:
        self.fd, self.offset, self.left = fd, offset, size

    def read(self, size: int | None = -1) -> bytes:
        want = self.left if size is None or size < 0 else min(size, self.left)
        data = os.pread(self.fd, want, self.offset) if want else b""
        self.offset += len(data)
        self.left -= len(data)
        return data


class TarSource:
    """A tar archive, read once from start to end."""

    def __init__(self, store: Store, lease: Lease, stream: BinaryIO) -> None:
        self.store = store
        self.lease = lease
        self.files: dict[str, bytes] = {}
        self.layers: dict[str, Layer] = {}
        self.links: dict[str, str] = {}
        self.oversized: dict[str, int] = {}  # documents past MAX_DOCUMENTS: name -> size
        self.regions: dict[str, tuple[int, int]] = {}  # a plain tar file's layers: name -> (offset, size)
        self.kept = 0
        reader = self._reader(stream)
        try:
            with open_tar(reader) as tf:
                for ti in members(tf):
                    self._member(reader, ti)
            if not self.files and not self.layers and not self.oversized and not self.regions:
                raise InvalidInput("not a valid image archive: it is empty")
            reader.drain(MAX_TRAILER)
        except tarfile.TarError as exc:
            raise InvalidInput(f"not a valid image archive: {exc}") from None
        if self.regions:
            self.layers.update(_ingest_regions(store, lease, stream, self.regions))

    def _reader(self, stream: BinaryIO) -> ForwardReader:
        """A seeking reader over an uncompressed archive in a regular file, whose layers are then
        extracted in parallel; else the (decompressed) stream, read once. The CLI's progress bar
        counts what passes through it, so a load that draws one gets the stream."""
        try:
            st = os.fstat(stream.fileno())
            regular = stat.S_ISREG(st.st_mode) and stream.tell() == 0
        except (AttributeError, OSError):  # a BytesIO has no descriptor (io.UnsupportedOperation)
            regular = False
        kind, raw = detect(stream)
        if kind == "none" and regular:
            stream.seek(0)
            return _Seeking(stream, st.st_size)
        return ForwardReader(cast(BinaryIO, _Outer(decompressor(kind, raw))))

    def _layer(self, reader: ForwardReader, ti: tarfile.TarInfo, name: str, head: bytes, data: Slice) -> None:
        """A plain tar file's layer is noted where it lies, to extract after the scan (members()
        seeks past it); a stream's is extracted now, as it passes."""
        if isinstance(reader, _Seeking):
            if ti.offset_data + ti.size > reader.size:
                raise _truncated(name, ti.size)
            self.regions[name] = (ti.offset_data, ti.size)
            return
        self.layers[name] = ingest_blob(self.store, self.lease, Prefixed(head, data))  # type: ignore[arg-type]
        while data.read(1 << 20):
            pass  # a layer's own trailing padding

    def _member(self, reader: ForwardReader, ti: tarfile.TarInfo) -> None:
        name = _clean(ti.name)
        if ti.issym():
            self.links[name] = _clean(posixpath.join(posixpath.dirname(name), ti.linkname))
        elif ti.islnk():
            self.links[name] = _clean(ti.linkname)
        elif ti.isreg():
            data = Slice(reader, ti.size)
            try:
                head = data.read(512)
                if _looks_like_layer(head):
                    self._layer(reader, ti, name, head, data)
                elif self.kept + ti.size <= MAX_DOCUMENTS:
                    self.files[name] = head + data.read()
                    self.kept += ti.size
                else:
                    self.oversized[name] = ti.size
            except InvalidInput:
                if data.cut:  # what failed was the layer's end, which the archive never reached
                    raise _truncated(name, ti.size) from None
                raise
            if data.cut:
                raise _truncated(name, ti.size)

    def _resolve(self, name: str) -> str:
        name = _clean(name)
        for _ in range(_MAX_LINK_DEPTH):
            if name not in self.links:
                return name
            name = self.links[name]
        raise InvalidInput(f"archive member {name!r}: too many links")

    def has(self, name: str) -> bool:
        name = self._resolve(name)
        return name in self.files or name in self.layers or name in self.oversized

    def small(self, name: str) -> bytes:
        resolved = self._resolve(name)
        if resolved in self.oversized:
            raise InvalidInput(_too_big(name, self.oversized[resolved]))
        if resolved not in self.files:
            raise InvalidInput(f"archive has no file {name!r}")
        return self.files[resolved]

    def layer(self, name: str) -> Layer:
        resolved = self._resolve(name)
        if resolved not in self.layers:
            if resolved not in self.files:
                raise InvalidInput(f"archive is missing layer {name!r}")
            self.layers[resolved] = ingest_blob(self.store, self.lease, io.BytesIO(self.files.pop(resolved)))
        return self.layers[resolved]


def _ingest_regions(
    store: Store, lease: Lease, archive: BinaryIO, regions: dict[str, tuple[int, int]]
) -> dict[str, Layer]:
    """Each layer of a plain tar file extracted in a forked process of its own, up to one per core.

    A child's refusal comes back as its result, not as a failure: the error reported is the
    first layer's in archive order, as a streamed archive reports it, not whichever child
    finished first."""

    def ingest(region: tuple[int, int], _count: object) -> Layer | InvalidInput:
        try:
            return ingest_blob(store, lease, _Region(archive.fileno(), *region))  # type: ignore[arg-type]
        except InvalidInput as exc:
            return exc

    names = list(regions)
    before_forking_ingests()
    workers = min(len(names), os.cpu_count() or 1)
    results = run_forked(ingest, [regions[name] for name in names], workers)
    for result in results:
        if isinstance(result, InvalidInput):
            raise result
    return dict(zip(names, cast("list[Layer]", results)))


def _too_big(name: str, size: int) -> str:
    return f"archive member {name!r} is {size} bytes, more than the {MAX_DOCUMENTS >> 20} MiB an image's documents may take"


class DirSource:
    """An OCI image layout directory, read on demand."""

    def __init__(self, store: Store, lease: Lease, root: Path) -> None:
        self.store = store
        self.lease = lease
        self.root = root
        self.layers: dict[str, Layer] = {}

    def _path(self, name: str) -> Path:
        return self.root / _clean(name)

    def has(self, name: str) -> bool:
        return self._path(name).is_file()

    def small(self, name: str) -> bytes:
        path = self._path(name)
        if not path.is_file():
            raise InvalidInput(f"{self.root}: no file {name!r}")
        size = path.stat().st_size
        if size > MAX_DOCUMENTS:
            raise InvalidInput(f"{self.root}: {_too_big(name, size)}")
        return path.read_bytes()

    def layer(self, name: str) -> Layer:
        if name not in self.layers:
            if not self.has(name):
                raise InvalidInput(f"{self.root}: missing layer {name!r}")
            with open(self._path(name), "rb") as f:
                self.layers[name] = ingest_blob(self.store, self.lease, f)
        return self.layers[name]


# -- understanding what a source holds ---------------------------------------------------------


def find_images(source: Source, platform: Platform | None) -> list[ImageSpec]:
    if source.has("manifest.json"):
        return _docker_manifest(source)
    if source.has("index.json"):
        return _oci_index(source, platform or platforms.host())
    if source.has("repositories"):
        raise InvalidInput("archive uses the pre-1.10 Docker format (no manifest.json), which is not supported")
    raise InvalidInput("not a valid image archive: no manifest.json or index.json")


def _docker_manifest(source: Source) -> list[ImageSpec]:
    return [
        ImageSpec(
            config=source.small(entry.config),
            layers=list(entry.layers),
            tags=list(entry.repo_tags or []),
            parent=entry.parent,
        )
        for entry in ArchiveManifest.parse(source.small("manifest.json")).images
    ]


def _oci_index(source: Source, platform: Platform) -> list[ImageSpec]:
    """Every image the index names, resolved to `platform`: an entry for another platform
    (a plain manifest, or an index without it) is left out, and one image named twice is
    loaded once with both names."""
    index = Index.parse(source.small("index.json"), "index.json")
    chosen: dict[bytes, ImageSpec] = {}
    seen: list[str] = []
    for desc in index.manifests:
        manifest = _image_manifest(source, desc, platform)
        spec = ImageSpec(_verified(source, manifest.config), [blob_path(d.digest) for d in manifest.layers])
        found = ImageConfig.parse(spec.config).platform
        seen.append(str(found))
        if not platform.matches(found):
            continue
        for name, layer in zip(spec.layers, manifest.layers):
            got = source.layer(name).blob_digest
            if got != layer.digest:
                raise DigestMismatch(f"layer blob {layer.digest} hashes to {got}")
        spec = chosen.setdefault(spec.config, spec)
        tag = _image_name(desc)
        if tag and tag not in spec.tags:
            spec.tags.append(tag)
    if not chosen:
        raise InvalidInput(f"no image for platform {platform} in the layout (it has: {', '.join(sorted(set(seen)))})")
    return list(chosen.values())


def _verified(source: Source, desc: Descriptor) -> bytes:
    data = source.small(blob_path(desc.digest))
    actual = dg.sha256_bytes(data)
    if actual != desc.digest:
        raise DigestMismatch(f"blob {desc.digest} hashes to {actual}")
    return data


def _document(source: Source, desc: Descriptor) -> Manifest | Index:
    return parse_document(_verified(source, desc), f"blob {desc.digest}", described=desc.media_type)


def _image_manifest(source: Source, desc: Descriptor, platform: Platform) -> Manifest:
    fetch = partial(_document, source)
    return platform_manifest(fetch(desc), platform, fetch, f"index {desc.digest}")


def _image_name(desc: Descriptor) -> str | None:
    """The repository:tag an index entry names, when it names a full reference."""
    annotations = desc.annotations or {}
    for key in (mt.IMAGE_NAME_ANNOTATION, mt.REF_NAME_ANNOTATION):
        name = annotations.get(key)
        if name and ("/" in name or ":" in name):
            try:
                reference.parse(name)
                return name
            except InvalidInput:
                continue
    return None


def load(store: Store, source: BinaryIO | Path, platform: Platform | None = None) -> list[Loaded]:
    """Load every image in `source` (a path or a binary stream); nothing is kept on error."""
    with store.lease("load") as held:
        if isinstance(source, Path) and source.is_dir():
            src: Source = DirSource(store, held, source)
        elif isinstance(source, Path):
            with open(source, "rb") as f:
                src = TarSource(store, held, f)
        else:
            src = TarSource(store, held, source)
        specs = find_images(src, platform)
        for spec in specs:
            check_tags(spec)
            check_diff_ids(spec, src.layer)
        parents = parent_links(specs)
        committer = Committer(store, src.layer, held)
        loaded = [committer.image(spec) for spec in specs]
        store.images.set_parents(parents)
        return loaded


def parent_links(specs: list[ImageSpec]) -> dict[str, str]:
    """Image ID -> Parent, as `docker load` keeps them: only a parent in the same archive, in any
    order (Docker lists untagged images first), and only one its child's history extends.

    Checked before anything is committed, so a bad link leaves nothing behind."""
    configs = {dg.sha256_bytes(spec.config): spec.config for spec in specs}
    links: dict[str, str] = {}
    for image_id, spec in zip(configs, specs):
        parent = spec.parent
        if not parent or parent == image_id or parent not in configs:
            continue
        if not _extends(json.loads(spec.config), json.loads(configs[parent])):
            raise InvalidInput(f"image {parent} is not a valid parent for {image_id}")
        links[image_id] = parent
    return links


def _extends(child: dict, parent: dict) -> bool:
    """Docker's checkValidParent: the child's history is the parent's plus one entry."""
    mine, theirs = child.get("history") or [], parent.get("history") or []
    if not mine and not theirs:
        return True
    return len(mine) == len(theirs) + 1 and all(_same_step(a, b) for a, b in zip(theirs, mine))


def _same_step(a: dict, b: dict) -> bool:
    """Equal history entries, their `created` compared as instants (Go's time.Equal)."""
    if ("created" in a) != ("created" in b):
        return False
    if "created" in a and parse_rfc3339(a["created"]) != parse_rfc3339(b["created"]):
        return False
    return {k: v for k, v in a.items() if k != "created"} == {k: v for k, v in b.items() if k != "created"}
