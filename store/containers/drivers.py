"""Storage drivers: how a container's writable layer is kept, overlay or vfs.

What differs between the two lives here, so create, start, diff, commit and inspect ask the
container's driver instead of comparing names. The name ("overlay", "vfs") is what the
`containers` table stores and inspect shows as Driver and GraphDriver.Name; `driver_for`
turns it back into the driver.

Unmounting is not the driver's: `rootfs.unmount` clears merged/ whatever mounted it (and
does nothing where nothing is mounted), so rm and prune unmount without reading the row.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..errors import InvalidInput
from ..fsutil import measure
from ..paths import Layout
from . import rootfs
from .changes import Change, changes_size, overlay_changes, vfs_changes

if TYPE_CHECKING:
    from ..core import Store
    from .export import Writer
    from .records import Container


class StorageDriver(Protocol):
    name: str

    def unusable(self, layout: Layout, ancestry: list[dict]) -> str | None:
        """Why this driver cannot hold a container of these layers here; None when it can."""

    def prepare(self, layout: Layout, directory: Path, ancestry: list[dict]) -> int:
        """Make the writable layer in a new container directory that has its init layer; returns
        the disk it takes, stored until the container's first stop measures it again."""

    def mount(self, store: Store, c: Container) -> None:
        """Make merged/ the root file system the runtime is given."""

    def changes(self, store: Store, c: Container) -> list[Change]:
        """The writable layer's changes as `docker diff` lists them."""

    def writable_size(self, store: Store, c: Container) -> tuple[int, int]:
        """(SizeRw, disk) measured now: SizeRw as Docker's driver of the same name counts it."""

    def layer_writer(self, store: Store, c: Container) -> Writer | None:
        """What writes the changes as a layer tar for commit; None when nothing changed."""

    def graph_data(self, store: Store, c: Container) -> dict[str, str]:
        """inspect's GraphDriver.Data: the directories Docker's driver of the same name shows."""


class Overlay:
    """The kernel's overlayfs: the upperdir diff/ is the writable layer, mounted over the init
    layer and the image's layers only while the container runs."""

    name = "overlay"

    def unusable(self, layout: Layout, ancestry: list[dict]) -> str | None:
        return rootfs.overlay_unusable(layout, ancestry)

    def prepare(self, layout: Layout, directory: Path, ancestry: list[dict]) -> int:
        for name in ("diff", "work", "merged"):
            (directory / name).mkdir(0o755)
        return 0

    def mount(self, store: Store, c: Container) -> None:
        rootfs.mount(store.layout, store.containers.path(c.id), image_ancestry(store, c.image_id))

    def changes(self, store: Store, c: Container) -> list[Change]:
        upper = store.containers.path(c.id) / "diff"
        return overlay_changes(str(upper), [str(path) for path, _ in _lowers(store, c)])

    def writable_size(self, store: Store, c: Container) -> tuple[int, int]:
        """The upperdir's apparent size (Docker's directory.Size) and what it occupies."""
        return measure(str(store.containers.path(c.id) / "diff"))

    def layer_writer(self, store: Store, c: Container) -> Writer | None:
        from .export import write_upper  # tarfile is for commit alone

        upper = str(store.containers.path(c.id) / "diff")
        return (lambda tf: write_upper(tf, upper)) if os.listdir(upper) else None

    def graph_data(self, store: Store, c: Container) -> dict[str, str]:
        directory = store.containers.path(c.id)
        return {
            "LowerDir": ":".join(str(path) for path, _ in _lowers(store, c)),
            "MergedDir": str(directory / "merged"),
            "UpperDir": str(directory / "diff"),
            "WorkDir": str(directory / "work"),
        }


class Vfs:
    """A private copy of the image's layers in merged/: slow to create and as big as the image,
    but it works wherever overlay cannot mount (no root, AUFS-style whiteouts, a refusing kernel)."""

    name = "vfs"

    def unusable(self, layout: Layout, ancestry: list[dict]) -> str | None:
        return None

    def prepare(self, layout: Layout, directory: Path, ancestry: list[dict]) -> int:
        staging = directory / ".staging"
        staging.mkdir()
        rootfs.build_vfs(rootfs.layer_chain(layout, directory, ancestry), directory / "merged", staging)
        staging.rmdir()
        return measure(str(directory / "merged"))[1]

    def mount(self, store: Store, c: Container) -> None:
        """Nothing to mount: the copy is the root file system."""

    def changes(self, store: Store, c: Container) -> list[Change]:
        return vfs_changes(str(store.containers.path(c.id) / "merged"), _lowers(store, c))

    def writable_size(self, store: Store, c: Container) -> tuple[int, int]:
        """The added and changed files (Docker's ChangesSize), and what the whole copy occupies."""
        root = str(store.containers.path(c.id) / "merged")
        return changes_size(root, self.changes(store, c)), measure(root)[1]

    def layer_writer(self, store: Store, c: Container) -> Writer | None:
        from .export import write_changes  # tarfile is for commit alone

        found = self.changes(store, c)
        root = str(store.containers.path(c.id) / "merged")
        return (lambda tf: write_changes(tf, root, found)) if found else None

    def graph_data(self, store: Store, c: Container) -> dict[str, str]:
        return {"Dir": str(store.containers.path(c.id) / "merged")}


OVERLAY: StorageDriver = Overlay()
VFS: StorageDriver = Vfs()
_BY_NAME = {driver.name: driver for driver in (OVERLAY, VFS)}


def driver_for(name: str) -> StorageDriver:
    """The driver of this name: a container's (its row keeps the name) or one asked for."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise InvalidInput(f"unknown storage driver {name!r} (choose from {', '.join(_BY_NAME)})") from None


def choose(layout: Layout, ancestry: list[dict], requested: str | None) -> StorageDriver:
    """overlay where the kernel lets us mount it over these layers, else vfs; a request is checked."""
    if requested is None:
        return VFS if OVERLAY.unusable(layout, ancestry) else OVERLAY
    driver = driver_for(requested)
    reason = driver.unusable(layout, ancestry)
    if reason:
        raise InvalidInput(
            f"storage driver {driver.name} is not usable here: {reason}; use --storage-driver {VFS.name}"
        )
    return driver


def image_ancestry(store: Store, image_id: str) -> list[dict]:
    """The image's layer rows, uppermost first (none for an image without layers)."""
    chain = store.images.chain(image_id)
    return store.layers.ancestry(chain[-1]) if chain else []


def _lowers(store: Store, c: Container) -> list[tuple[Path, str]]:
    """The container's lower layers, uppermost first: its init layer, then the image's."""
    return rootfs.layer_chain(store.layout, store.containers.path(c.id), image_ancestry(store, c.image_id))
