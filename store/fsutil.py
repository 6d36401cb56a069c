"""File-system steps the store's correctness rules rely on: atomic writes, fsync, trash."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path


def atomic_write(target: Path, data: bytes, scratch: Path, mode: int = 0o644) -> None:
    """Write under `scratch` on the same file system, fsync, then rename into place (rule 1)."""
    import tempfile  # only writers pay for it

    fd, tmp = tempfile.mkstemp(dir=scratch, prefix="blob-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def new_scratch_dir(parent: Path, prefix: str) -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(dir=parent, prefix=prefix))


def walk(top: str | os.PathLike[str]) -> Iterator[tuple[str, list[str], list[str]]]:
    """os.walk (top-down, links not followed, `dirnames` prunable), without its recursion: on
    Python 3.11 os.walk and shutil.rmtree recurse once per level, and a layer's depth is the
    input's to choose (a 1,100-deep tree was a RecursionError)."""
    stack = [os.fspath(top)]
    while stack:
        parent = stack.pop()
        dirnames: list[str] = []
        filenames: list[str] = []
        try:
            entries = list(os.scandir(parent))
        except OSError:
            continue  # as os.walk: a directory gone or unreadable is skipped
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            (dirnames if is_dir else filenames).append(entry.name)
        yield parent, dirnames, filenames
        below = [os.path.join(parent, name) for name in dirnames]
        stack.extend(path for path in reversed(below) if not os.path.islink(path))


def rmtree(path: str, ignore_errors: bool = False) -> None:
    """shutil.rmtree without its recursion (see `walk`): files as they are found, then the
    directories deepest first. A symlink is removed, never followed."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
            return
        dirs = []
        for parent, dirnames, filenames in walk(path):
            dirs.append(parent)
            links = [d for d in dirnames if os.path.islink(os.path.join(parent, d))]
            for name in filenames + links:
                os.unlink(os.path.join(parent, name))
            dirnames[:] = [d for d in dirnames if d not in links]
        for directory in reversed(dirs):
            os.rmdir(directory)
    except OSError:
        if not ignore_errors:
            raise


def copy_tree(src: str, dst: str) -> None:
    """Copy a layer tree exactly: special files, hardlinks, ownership, modes, xattrs, times.

    shutil.copytree would open FIFOs and devices as regular files (and block on a FIFO).
    """
    import shutil

    links: dict[tuple[int, int], str] = {}
    is_root = os.geteuid() == 0
    dirs: list[tuple[str, str, os.stat_result]] = []
    for parent, dirnames, filenames in walk(src):
        rel = os.path.relpath(parent, src)
        out_parent = dst if rel == "." else os.path.join(dst, rel)
        st = os.lstat(parent)
        os.mkdir(out_parent, 0o700)
        dirs.append((parent, out_parent, st))
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(parent, d))]:
            source, target = os.path.join(parent, name), os.path.join(out_parent, name)
            st = os.lstat(source)
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in links:
                os.link(links[key], target)
                continue
            links[key] = target
            mode = st.st_mode
            if stat.S_ISLNK(mode):
                os.symlink(os.readlink(source), target)
            elif stat.S_ISREG(mode):
                shutil.copyfile(source, target, follow_symlinks=False)
            elif stat.S_ISFIFO(mode):
                os.mkfifo(target)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                os.mknod(target, mode, st.st_rdev)
            else:
                continue  # sockets are not layer content
            _copy_meta(source, target, st, is_root)
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(parent, d))]
    for source, path, st in reversed(dirs):
        _copy_meta(source, path, st, is_root)


def _copy_xattrs(source: str, target: str) -> None:
    try:
        names = os.listxattr(source, follow_symlinks=False)
    except OSError:
        return
    for name in names:
        try:
            os.setxattr(target, name, os.getxattr(source, name, follow_symlinks=False), follow_symlinks=False)
        except OSError:
            pass


def _copy_meta(source: str, target: str, st: os.stat_result, is_root: bool) -> None:
    """Owner, then xattrs, then mode and times: chown clears security.capability (and setuid),
    so an xattr set before it would be lost."""

    if is_root:
        os.lchown(target, st.st_uid, st.st_gid)
    _copy_xattrs(source, target)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(target, stat.S_IMODE(st.st_mode))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def measure(root: str) -> tuple[int, int]:
    """(apparent, allocated) bytes: Docker's directory.Size, and st_blocks, each inode once."""
    size = disk = 0
    seen_size: set[int] = set()
    seen_disk: set[int] = set()
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                st = entry.stat(follow_symlinks=False)
                if st.st_ino not in seen_disk:
                    seen_disk.add(st.st_ino)
                    disk += st.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif st.st_size and st.st_ino not in seen_size:
                    seen_size.add(st.st_ino)
                    size += st.st_size
    return size, disk
