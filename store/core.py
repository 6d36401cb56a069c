"""`Store`: one object holding the store's rooms (blobs, layers, images, containers) over one database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from . import leases
from .blobs import BlobStore
from .db import connect
from .images import ImageStore
from .layers import LayerStore
from .paths import Layout, default_root
from .trash import Trash

TYPE_CHECKING = False  # typing costs ~5 ms to import, more than a cached build's work; mypy takes this as True
if TYPE_CHECKING:
    from .containers.records import ContainerStore


class Store:
    def __init__(self, root: Path | None = None) -> None:
        self.layout = Layout((Path(root) if root else default_root()).absolute())  # runc and mounts need it whole
        self.layout.create()
        self.db = connect(self.layout.db)
        self.trash = Trash(self.layout, self.db)
        self.blobs = BlobStore(self.layout.blobs, self.layout.ingest, self.trash)
        self.layers = LayerStore(self.layout, self.db, self.blobs, self.trash)
        self.images = ImageStore(self.db, self.blobs, self.layers)
        try:
            self.trash.finish()
        except OSError:
            pass  # trash that cannot go yet must not stop unrelated commands; prune and check report it

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
                    import shutil

                    shutil.rmtree(scratch, ignore_errors=True)

    def close(self) -> None:
        self.db.conn.close()
