"""`commit`: a container's changes become a layer, and the layer a child image of its image.

The layer tar is what Docker's commit writes. On overlay it is the upperdir with overlay's
whiteouts turned into the OCI/AUFS form (a char 0/0 device -> `.wh.<name>`, an opaque
directory -> the directory plus `.wh..wh..opq`); on vfs it is the changed paths of `diff`,
deletions as `.wh.` files. The tar streams straight into the layer store's ingest (one pass:
diff_id, tar-split, files), so it gets the same checks as a loaded layer.

The image config follows Docker's NewChildImage: the parent's rootfs and history plus one
entry (`empty_layer` and no new layer when nothing changed), `container`, `container_config`
(the container's Config), `config` (that Config after `-c` instructions), `author`; top-level
keys sorted, as Docker writes them.
"""

from __future__ import annotations

import copy
import json
import os
import stat
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from .. import reference
from ..core import Store
from ..errors import InvalidInput, NotFound
from ..layerfs.whiteouts import OPAQUE, WHITEOUT_PREFIX
from ..timeutil import rfc3339_nano
from . import instructions, lifecycle, rootfs
from .changes import Change, changes
from .records import Container

_CAPABILITY = "security.capability"
Writer = Callable[[tarfile.TarFile], None]


def commit(
    store: Store, c: Container, repo: str | None, author: str, message: str, instructions_: list[str], pause: bool
) -> str:
    """The new image's ID; tagged `repo` (`:latest` by default) when given."""
    ref = reference.parse(repo) if repo else None
    if ref is not None and ref.digest:
        raise InvalidInput("refusing to create a tag with a digest reference")
    config = instructions.apply(copy.deepcopy(c.docker_config), instructions_)
    current = lifecycle.refresh(store, c)
    if current is None:
        raise NotFound(f"No such container: {c.id}")
    containers = store.containers
    with containers.locked(c.id):
        current = containers.get(c.id)
        if current is None:
            raise NotFound(f"No such container: {c.id}")
        rt = lifecycle.runtime_for(store, current) if pause and current.state == "running" else None
        if rt is not None:
            rt.pause(c.id)
        try:
            image_id = _commit(store, current, config, author, message)
        finally:
            if rt is not None:
                rt.resume(c.id)
        if ref is not None:
            store.images.tag(image_id, ref)
    return image_id


def _commit(store: Store, c: Container, config: dict, author: str, message: str) -> str:
    directory = store.layout.containers / c.id
    if c.driver == "overlay":
        upper = str(directory / "diff")
        writer: Writer | None = (lambda tf: _write_upper(tf, upper)) if os.listdir(upper) else None
    else:
        found = changes(store, c)
        root = str(directory / "merged")
        writer = (lambda tf: _write_changes(tf, root, found)) if found else None
    parent = store.images.config(c.image_id)
    chain = store.images.chain(c.image_id)
    with store.lease("commit") as lease:
        diff_id = None
        if writer is not None:
            with _tar_stream(writer) as stream:
                ingested = store.layers.ingest(stream, lease)
            diff_id = ingested.info.diff_id
            store.layers.commit(ingested, chain[-1] if chain else None, lease)
        body = image_config(parent, c, config, author, message, diff_id)
        return store.images.create(body, lease, parent=c.image_id)


def image_config(parent: dict, c: Container, config: dict, author: str, comment: str, diff_id: str | None) -> bytes:
    created = rfc3339_nano(time.time())
    entry: dict[str, Any] = {"created": created}
    if author:
        entry["author"] = author
    entry["created_by"] = " ".join(c.docker_config.get("Cmd") or [])
    if comment:
        entry["comment"] = comment
    if diff_id is None:
        entry["empty_layer"] = True
    diff_ids = list((parent.get("rootfs") or {}).get("diff_ids") or []) + ([diff_id] if diff_id else [])
    image: dict[str, Any] = {
        "architecture": parent.get("architecture") or "amd64",
        "config": config,
        "container": c.id,
        "container_config": c.docker_config,
        "created": created,
        "history": list(parent.get("history") or []) + [entry],
        "os": parent.get("os") or "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if author:
        image["author"] = author
    for key in ("variant", "os.version", "os.features"):
        if parent.get(key):
            image[key] = parent[key]
    return json.dumps(dict(sorted(image.items())), separators=(",", ":")).encode()


@contextmanager
def _tar_stream(writer: Writer) -> Iterator[BinaryIO]:
    """A pipe whose other end a thread fills with the tar `writer` makes, for ingest to read."""
    read_fd, write_fd = os.pipe()
    reader, sink = os.fdopen(read_fd, "rb"), os.fdopen(write_fd, "wb")
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tf:
                writer(tf)
        except BaseException as exc:
            failure.append(exc)
        finally:
            try:
                sink.close()
            except OSError:
                pass

    thread = threading.Thread(target=produce, name="commit-tar", daemon=True)
    thread.start()
    try:
        yield reader
    finally:
        reader.close()
        thread.join()
    if failure and not isinstance(failure[0], BrokenPipeError):
        raise failure[0]


def _write_upper(tf: tarfile.TarFile, upper: str) -> None:
    """The upperdir in walk order, overlay whiteouts converted (Docker's overlayWhiteoutConverter)."""
    for parent, dirnames, filenames in os.walk(upper):
        dirnames.sort(key=os.fsencode)
        for name in sorted(dirnames + filenames, key=os.fsencode):
            path = os.path.join(parent, name)
            arcname = os.path.relpath(path, upper)
            st = os.lstat(path)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                _whiteout(tf, os.path.join(os.path.dirname(arcname), WHITEOUT_PREFIX + name), 0o600, st)
                continue
            _add(tf, path, arcname)
            if stat.S_ISDIR(st.st_mode) and rootfs.is_opaque(path, "overlay"):
                _whiteout(tf, os.path.join(arcname, OPAQUE), stat.S_IMODE(st.st_mode), st)


def _write_changes(tf: tarfile.TarFile, root: str, found: list[Change]) -> None:
    """Docker's ExportChanges: each added or changed path from the copy, deletions as whiteouts."""
    for change in found:
        arcname = change.path.lstrip("/")
        if change.kind == "D":
            directory, name = os.path.split(arcname)
            _whiteout(tf, os.path.join(directory, WHITEOUT_PREFIX + name), 0)
        else:
            _add(tf, root + change.path, arcname)


def _whiteout(tf: tarfile.TarFile, arcname: str, mode: int, like: os.stat_result | None = None) -> None:
    """An empty regular file; owned and dated like the entry it stands for, if there is one."""
    info = tarfile.TarInfo(arcname)
    info.mode = mode
    if like is not None:
        info.uid, info.gid, info.mtime = like.st_uid, like.st_gid, int(like.st_mtime)
    else:
        info.mtime = int(time.time())
    tf.addfile(info)


def _add(tf: tarfile.TarFile, path: str, arcname: str) -> None:
    info = tf.gettarinfo(path, arcname)
    info.uname = info.gname = ""  # numeric owners only: the host's user names mean nothing here
    info.mtime = int(info.mtime)
    try:
        capability = os.getxattr(path, _CAPABILITY, follow_symlinks=False)
    except OSError:
        capability = None
    if capability is not None:
        info.pax_headers = {
            "SCHILY.xattr." + _CAPABILITY: capability.decode("utf-8", "surrogateescape"),
            "hdrcharset": "BINARY",
        }
    if info.isreg():
        with open(path, "rb") as f:
            tf.addfile(info, f)
    else:
        tf.addfile(info)
