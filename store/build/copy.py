"""COPY and ADD: the layer a copy makes, written as a tar straight from the sources.

Docker's classic builder copies into a container and commits its diff, so the layer holds
the copied files and every directory above them (overlay's upper directory has them all).
Here the same entries are written directly: each destination's ancestors (as the image has
them, or new 0755 directories), then the files, directories and links copied. Context files
arrive owned by root with their modes and times, as the docker CLI sends them; files from
another stage or image keep their owners; `--chown` sets both for what is copied.
"""

from __future__ import annotations

import os
import posixpath
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..errors import InvalidInput
from ..fsutil import walk

if TYPE_CHECKING:
    import tarfile

    from ..layerfs.merged import MergedView
    from .context import DockerIgnore, Source


class Item(NamedTuple):
    """One entry of the layer: its path in the image and where its bytes come from."""

    target: str  # absolute, inside the image
    st: os.stat_result
    disk: Path | None  # content of a regular file, or the link to read; None for directories
    owner: tuple[int, int]


def plan(
    sources: list[Source],
    dest: str,
    view: MergedView | None,
    owner: tuple[int, int] | None,
    ignore: DockerIgnore | None,
) -> list[Item]:
    """Every entry the copy writes, in the order a tar needs (parents first). `owner` is who the
    copies belong to (root for the context, `--chown`'s), None to keep the sources' own (another
    stage's files); `ignore` is the context's .dockerignore, None for a stage's files."""
    into_dir = dest.endswith("/") or len(sources) > 1 or is_dir(view, dest)
    if len(sources) > 1 and not dest.endswith("/"):
        raise InvalidInput(
            "When using COPY with more than one source file, the destination must be a directory and end with a /"
        )
    base = dest.rstrip("/") or "/"
    items: list[Item] = []
    for source in sources:
        st = os.lstat(source.path)
        if stat.S_ISDIR(st.st_mode):
            items += _tree(source, base, owner, ignore)
        else:
            target = posixpath.join(base, posixpath.basename(source.name.rstrip("/"))) if into_dir else base
            items.append(_item(source.path, st, target, owner))
    return with_ancestors(items, view, owner)


def is_dir(view: MergedView | None, path: str) -> bool:
    if view is None:
        return False
    found = view.lookup(view.resolve(path))
    return found is not None and stat.S_ISDIR(found.st.st_mode)


def _item(disk: Path, st: os.stat_result, target: str, owner: tuple[int, int] | None) -> Item:
    return Item(target, st, None if stat.S_ISDIR(st.st_mode) else disk, owner or (st.st_uid, st.st_gid))


def _tree(source: Source, base: str, owner: tuple[int, int] | None, ignore: DockerIgnore | None) -> list[Item]:
    """A directory's contents (not the directory itself, as Docker copies them) under `base`;
    what .dockerignore leaves out of the context is not there to copy."""
    items: list[Item] = []
    top = source.path
    for directory, dirs, files in walk(top):
        dirs.sort()
        for name in [*dirs, *sorted(files)]:
            path = Path(directory) / name
            rel = path.relative_to(top).as_posix()
            is_dir = name in dirs
            if ignore is not None and ignore.excluded((Path(source.name) / rel).as_posix(), is_dir):
                if is_dir:
                    dirs.remove(name)
                continue
            items.append(_item(path, os.lstat(path), posixpath.join(base, rel), owner))
    return items


def with_ancestors(items: list[Item], view: MergedView | None, owner: tuple[int, int] | None) -> list[Item]:
    """Each target's directories above it, as overlay's upper directory would show them."""
    present = {item.target for item in items}
    ancestors: dict[str, Item] = {}
    for item in items:
        parent = posixpath.dirname(item.target)
        while parent not in ("/", "") and parent not in ancestors and parent not in present:
            found = view.lookup(view.resolve(parent)) if view is not None else None
            if found is not None and stat.S_ISDIR(found.st.st_mode):
                ancestors[parent] = Item(parent, found.st, None, (found.st.st_uid, found.st.st_gid))
            else:
                ancestors[parent] = new_directory(parent, owner or (0, 0))
            parent = posixpath.dirname(parent)
    return sorted(ancestors.values(), key=lambda i: i.target) + items


def new_directory(target: str, owner: tuple[int, int]) -> Item:
    """A directory the step creates (WORKDIR, an ADDed archive's destination)."""
    now = int(time.time())
    return Item(target, os.stat_result((stat.S_IFDIR | 0o755, 0, 0, 0, 0, 0, 0, now, now, now)), None, owner)


def owner(view: MergedView | None, spec: str) -> tuple[int, int]:
    """`--chown=user[:group]`: numbers as they are, names from the image's /etc/passwd and
    /etc/group (a group defaults to the user's primary one, as Docker's does)."""
    user, _, group = spec.partition(":")
    uid, primary = _lookup(view, "/etc/passwd", user, 3, "user")
    gid = _lookup(view, "/etc/group", group, 2, "group")[0] if group else primary
    return uid, gid


def _lookup(view: MergedView | None, table: str, name: str, gid_field: int, what: str) -> tuple[int, int]:
    if name.isdigit():
        return int(name), int(name)
    found = view.lookup(view.resolve(table)) if view is not None else None
    if found is not None and stat.S_ISREG(found.st.st_mode):
        for line in found.disk.read_text(errors="replace").splitlines():
            fields = line.split(":")
            if len(fields) > gid_field and fields[0] == name:
                return int(fields[2]), int(fields[gid_field])
    raise InvalidInput(f"unable to convert uid/gid chown string to host mapping: no such {what}: {name}")


def writer(items: list[Item], archives: list[tuple[Path, str]]) -> Callable[[tarfile.TarFile], None]:
    """What tar_pipe runs: each item as a tar entry (file contents read as they are written),
    then the members of each ADDed archive under its destination."""

    def write(tf: tarfile.TarFile) -> None:
        for item in items:
            info = _tarinfo(item)
            if info.isreg():
                assert item.disk is not None
                with open(item.disk, "rb") as f:
                    tf.addfile(info, f)
            else:
                tf.addfile(info)
        for archive, base in archives:
            _unpack_into(tf, archive, base)

    return write


def _tarinfo(item: Item) -> tarfile.TarInfo:
    import tarfile

    st = item.st
    info = tarfile.TarInfo(item.target.lstrip("/"))
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = item.owner
    info.mtime = int(st.st_mtime)
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISREG(mode):
        info.size = st.st_size
    elif stat.S_ISLNK(mode):
        assert item.disk is not None
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(item.disk)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    else:
        raise InvalidInput(f"{item.target}: cannot copy a socket")
    return info


def is_archive(path: Path) -> bool:
    """ADD unpacks a local file that tarfile can read as an archive, any compression."""
    import tarfile

    return path.is_file() and tarfile.is_tarfile(path)


def _unpack_into(tf: tarfile.TarFile, archive: Path, base: str) -> None:
    """Copy an archive's members under `base`; names that would climb out of it are dropped."""
    import tarfile

    prefix = base.strip("/")
    with tarfile.open(archive, "r:*") as source:
        for member in source:
            name = posixpath.normpath(member.name.lstrip("/"))
            if name == "." or name.startswith(".."):
                continue
            member.name = posixpath.join(prefix, name) if prefix else name
            if member.islnk():
                link = posixpath.normpath(member.linkname.lstrip("/"))
                if link.startswith(".."):
                    continue
                member.linkname = posixpath.join(prefix, link) if prefix else link
            tf.addfile(member, source.extractfile(member) if member.isreg() else None)
