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
    return user_default()


def user_default() -> Path:
    """The store a user who is not root has unless told otherwise: $XDG_DATA_HOME/bilge."""
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(data_home) / "bilge"


_OWN_STORE = "; use your own store with --root DIR (or BILGE_ROOT), or the per-user default "


def _owner(path: Path) -> str:
    import pwd

    uid = path.stat().st_uid
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


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

    @property
    def reserve(self) -> Path:
        """Room kept for the database on a full file system (store/reserve.py)."""
        return self.root / "reserve"

    @property
    def cache(self) -> Path:
        """Memoized figures (store/memo.py): derived, never a reference; deleting it is harmless."""
        return self.root / "cache"

    def refuse_unless_usable(self, create: bool) -> None:
        """A store whose database is gone must not be read as empty (nor repaired into an empty
        one: check --repair would trash every layer), and a store that is not there must not be
        made by a typo'd --root in a command that only reads or prunes."""
        from .errors import NotFound, StoreLost

        self.refuse_unless_readable()
        if self.db.exists() and self.db.stat().st_size:
            return
        held = [
            f"{p.relative_to(self.root).parts[0]}/"
            for p in (self.layers, self.blobs, self.containers)
            if _holds_anything(p)
        ]
        if held:
            raise StoreLost(
                f"the store at {self.root} holds {' and '.join(held)} but no bilge.db: its database is "
                "lost, and it is refused rather than treated as empty (restore bilge.db, or move the directory away)"
            )
        if not create:
            raise NotFound(f"no store at {self.root}; `bilge load` or `pull` creates one")

    def refuse_unless_readable(self) -> None:
        """Another user's store (root's, made private as every store is) is refused in words
        that say whose it is and where this user's own would be, not as a permission error."""
        from .errors import BilgeError

        try:
            unreadable = self.root.exists() and not os.access(self.root, os.R_OK | os.X_OK)
        except PermissionError:  # a directory above it is closed
            raise BilgeError(
                f"this user (uid {os.geteuid()}) cannot reach the store at {self.root}: a directory above it is "
                f"closed to them{_OWN_STORE}{user_default()}"
            ) from None
        if unreadable or self.db.exists() and not os.access(self.db, os.R_OK):
            raise BilgeError(
                f"the store at {self.root} belongs to {_owner(self.root)}, and this user (uid {os.geteuid()}) "
                f"cannot read it{_OWN_STORE}{user_default()}"
            )

    def read_only(self) -> str:
        """Why this store cannot be written ("" when it can): a read-only mount, or no permission."""
        if not self.db.exists() or self._writable():
            return ""
        if os.statvfs(self.root).f_flag & os.ST_RDONLY:
            return f"the store at {self.root} is on a read-only file system"
        return f"the store at {self.root} belongs to {_owner(self.root)}, and this user (uid {os.geteuid()}) cannot write to it"

    def advice(self) -> str:
        """What to do about a store this user may not write: use one of their own."""
        if self._writable() or os.statvfs(self.root).f_flag & os.ST_RDONLY:
            return ""
        return f"{_OWN_STORE}{user_default()}"

    def _writable(self) -> bool:
        return os.access(self.root, os.W_OK) and os.access(self.db, os.W_OK)

    def create(self) -> None:
        """Make what is missing; a new store is private: its root 0700 and its database 0600
        (container environments and image configs are in it), as Docker keeps its own."""
        if not self.db.exists():
            self.root.mkdir(0o700, parents=True, exist_ok=True)
            os.chmod(self.root, 0o700)
            os.close(os.open(self.db, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))  # SQLite would make it 0644
        for path in (self.blobs, self.links, self.trash):
            path.mkdir(parents=True, exist_ok=True)
        for path in (self.ingest, self.containers):  # where layers and writable layers are born
            try:
                path.mkdir()
            except FileExistsError:
                continue  # made before, or just now by another command starting at the same time
            mark_top_directory(path)


def _holds_anything(path: Path) -> bool:
    """Any entry but layers/l, the short links' directory every store has."""
    try:
        with os.scandir(path) as entries:
            return any(e.name != "l" or any(os.scandir(e.path)) for e in entries)
    except (FileNotFoundError, NotADirectoryError):
        return False


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
