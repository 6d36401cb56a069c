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

from .. import reference, testpoints
from ..core import Store
from ..errors import InvalidInput, NotFound
from ..images import child_config
from ..layerfs.streams import tar_pipe
from ..leases import Lease
from . import instructions, lifecycle
from .drivers import driver_for
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
    with containers.locked(c.id), store.lease("commit") as lease:  # held until the tag is written
        current = containers.get(c.id)
        if current is None:
            raise NotFound(f"No such container: {c.id}")
        rt = lifecycle.runtime_for(store, current) if pause and current.state == "running" else None
        if rt is not None:
            rt.pause(c.id)
        try:
            image_id = commit_config(store, current, config, lease, author, message)
        finally:
            if rt is not None:
                rt.resume(c.id)
        testpoints.reached("commit")
        if ref is not None:
            store.images.tag(image_id, ref)
    return image_id


def commit_config(
    store: Store,
    c: Container,
    config: dict,
    lease: Lease,
    author: str = "",
    message: str = "",
    recorded: dict | None = None,
) -> str:
    """The container's changes as a child image of its image with `config`; the new image and
    layer are held by the caller's `lease`, which must outlive what it does with the image next
    (a build's next step, commit's tag).
    `recorded` is the container config to record (a build records what its cache compares),
    by default the container's own; its Cmd is the history's `created_by`."""
    writer = driver_for(c.driver).layer_writer(store, c)
    parent = store.images.config(c.image_id)
    chain = store.images.chain(c.image_id)
    diff_id = None
    if writer is not None:
        with tar_pipe(writer) as stream:
            ingested = store.layers.ingest(stream, lease)
        diff_id = ingested.info.diff_id
        store.layers.commit(ingested, chain[-1] if chain else None, lease)
    shown = recorded if recorded is not None else c.docker_config
    created_by = " ".join(shown.get("Cmd") or [])
    body = child_config(parent, config, c.id, shown, created_by, diff_id, author, message)
    return store.images.create(body, lease, parent=c.image_id)
