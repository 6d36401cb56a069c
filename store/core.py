"""`Store`: one object holding the store's rooms (blobs, layers, images, containers) over one database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from . import leases, reserve
from .blobs import BlobStore
from .db import connect, connect_read_only
from .fsutil import rmtree
from .images import ImageStore
from .layers import LayerStore
from .paths import Layout, default_root
from .trash import Trash

TYPE_CHECKING = False  # typing costs ~5 ms to import, more than a cached build's work; mypy takes this as True
if TYPE_CHECKING:
    from .containers.records import ContainerStore


class Store:
    def __init__(self, root: Path | None = None, *, freeing: bool = False, create: bool = True) -> None:
        """`freeing`: the command frees space (a prune, rmi), so it releases the reserve before
        it opens the database, and calls keep_reserve() once it has freed. `create`: make the
        store if there is none (commands that add images); without it a missing store is refused.
        A store with content but no database is refused always: it is lost, not empty."""
        self.layout = Layout((Path(root) if root else default_root()).absolute())  # runc and mounts need it whole
        os.umask(0o022)  # as dockerd sets it: under a caller's umask 000 every layer would be world-writable
        self.layout.refuse_unless_usable(create)
        if why := self.layout.read_only():
            self.db = connect_read_only(self.layout.db, why, self.layout.advice())
        else:
            self.layout.create()
            if freeing:
                reserve.release(self.layout.reserve)
            self.db = connect(self.layout.db)
            if not freeing:
                self.keep_reserve()
            leases.lapse_dead(self.db)
        self.trash = Trash(self.layout, self.db)
        self.blobs = BlobStore(self.layout.blobs, self.layout.ingest, self.trash)
        self.layers = LayerStore(self.layout, self.db, self.blobs, self.trash)
        self.images = ImageStore(self.db, self.blobs, self.layers)
        try:
            if not self.db.read_only:
                self.trash.finish()
        except OSError:
            pass  # trash that cannot go yet must not stop unrelated commands; prune and check report it

    def keep_reserve(self) -> None:
        reserve.keep(self.layout.reserve, self.layout.db)

    @cached_property
    def containers(self) -> ContainerStore:
        """The container room, imported on first use: image-only commands never load it."""
        from .containers.records import ContainerStore

        return ContainerStore(self)

    @contextmanager
    def lease(self, purpose: str) -> Iterator[leases.Lease]:
        """Work in progress: its references are GC roots and its ingest/ scratch goes with it."""
        with leases.lease(self.db, self.layout.db, purpose) as held:
            try:
                yield held
            finally:
                scratch = self.layout.ingest / held.id
                if scratch.exists():  # work that made nothing (a build all cache) made no scratch
                    rmtree(str(scratch), ignore_errors=True)

    def close(self) -> None:
        self.db.conn.close()
