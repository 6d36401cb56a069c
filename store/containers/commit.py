"""`commit`: a container's changes become a layer, and the layer a child image of its image.

The layer tar is what Docker's commit writes, read by the container's storage driver
(drivers.py, export.py). It streams straight into the layer store's ingest (one pass:
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
import tarfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from .. import reference
from ..core import Store
from ..errors import InvalidInput, NotFound
from ..timeutil import rfc3339_nano
from . import instructions, lifecycle
from .drivers import driver_for
from .export import Writer
from .records import Container


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
    writer = driver_for(c.driver).layer_writer(store, c)
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
