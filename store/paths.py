"""Where the store lives on disk (design: "On disk")."""

from __future__ import annotations

import os
from pathlib import Path


def default_root() -> Path:
    """$BILGE_ROOT, else /var/lib/bilge for root, else $XDG_DATA_HOME/bilge."""
    if env := os.environ.get("BILGE_ROOT"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/bilge")
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(data_home) / "bilge"


class Layout:
    """The fixed places under a store root, modelled on Docker's overlay2 layout.

    A plain class, not a dataclass: importing dataclasses (and with it inspect) costs more than
    a cached `bilge build` spends on its work, and every command opens a Layout."""

    __slots__ = ("root",)
    root: Path

    def __init__(self, root: Path) -> None:
        object.__setattr__(self, "root", root)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Layout is immutable: cannot set {name}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Layout) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def __repr__(self) -> str:
        return f"Layout(root={self.root!r})"

    @property
    def db(self) -> Path:
        return self.root / "bilge.db"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs" / "sha256"

    @property
    def layers(self) -> Path:
        return self.root / "layers"

    @property
    def links(self) -> Path:
        return self.root / "layers" / "l"

    @property
    def containers(self) -> Path:
        return self.root / "containers"

    @property
    def ingest(self) -> Path:
        return self.root / "ingest"

    @property
    def trash(self) -> Path:
        return self.root / "trash"

    def create(self) -> None:
        for path in (self.blobs, self.links, self.trash):
            path.mkdir(parents=True, exist_ok=True)
        for path in (self.ingest, self.containers):  # where layers and writable layers are born
            try:
                path.mkdir()
            except FileExistsError:
                continue  # made before, or just now by another command starting at the same time
            mark_top_directory(path)


FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_TOPDIR_FL = 0x00020000


def mark_top_directory(path: Path) -> None:
    """`chattr +T`: ext2/3/4's Orlov allocator then spreads the directories made inside across
    block groups, as it does for home directories, instead of packing each next to its parent.

    Each layer is a hierarchy of its own, born and deleted whole. Packed together, a new layer's
    inodes land among the inodes a prune just freed, and ext4 without a journal checks every
    recently freed inode it passes before taking one: after a prune, creating a layer's files
    took twice the system time. Best effort: other file systems have no such flag and are left as they are.
    """
    import fcntl
    import struct

    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        flags = struct.unpack("i", fcntl.ioctl(fd, FS_IOC_GETFLAGS, b"\0" * 4))[0]
        fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", flags | FS_TOPDIR_FL))
    except OSError:
        pass
    finally:
        os.close(fd)
