"""What a container changed, as `docker diff` lists it, the way each storage driver finds it.

Both list what Docker's overlay2 lists on kernels where it uses its naive diff (ChangesDirs,
what a Docker 20.10 daemon does here): a stat difference (mode, owner, rdev; size and mtime for
non-directories; the security.capability xattr) is a change, and a directory with changes
inside is listed as changed before them, each ancestor too. Docker lists a directory's entries
in Go's map order, which varies from run to run; bilge lists them sorted by name as bytes.

overlay: walk the upperdir. A char 0/0 device is a deletion, an opaque directory that hides a
lower one is a deletion of the old one; anything else is an addition unless a lower layer has
the path, then compared with it (a file only copied up is unchanged).

vfs: compare the container's copy with the merged view of its lower layers. The added and
changed files' size (changes_size) is vfs's SizeRw.

drivers.py says which walk is a container's.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..layerfs.whiteouts import is_marker, is_opaque, whited_out

_CAPABILITY = "security.capability"


@dataclass(frozen=True)
class Change:
    kind: str  # "A", "C" or "D", as docker diff prints them
    path: str

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"


def _join(parent: str, name: str) -> str:
    return ("" if parent == "/" else parent) + "/" + name


# -- overlay ---------------------------------------------------------------------------------


def _listing(
    directory: str, parts: list[str], listed: bool, opaque: bool, at: int, lower_dirs: list[str]
) -> tuple[Iterator[str], dict[str, os.DirEntry], list[str], bool, int]:
    """A directory of the upper layer, ready to list: its entries, and the names to visit in byte
    order, with what an opaque directory hides below it (listed as deleted)."""
    entries = {e.name: e for e in os.scandir(directory)}
    gone = _lower_names(lower_dirs, parts) - entries.keys() if opaque else set()
    return iter(sorted(entries.keys() | gone, key=os.fsencode)), entries, parts, listed, at


def overlay_changes(upper: str, lower_dirs: list[str]) -> list[Change]:
    """The upper directory's changes, depth first in byte order; an explicit stack of the
    directories being listed, since recursion would fail on a tree the container made deep."""
    out: list[Change] = []
    # one frame per directory being listed: its names still to visit, where its entries begin
    # in `out`, and whether it is listed itself (else a change inside lists it as C first)
    stack = [_listing(upper, [], listed=True, opaque=False, at=0, lower_dirs=lower_dirs)]
    while stack:
        names, entries, parts, listed, at = stack[-1]
        name = next(names, None)
        if name is None:
            stack.pop()
            if len(out) > at and not listed:
                out.insert(at, Change("C", "/" + "/".join(parts)))
            continue
        sub = parts + [name]
        path = "/" + "/".join(sub)
        entry = entries.get(name)
        if entry is None:
            out.append(Change("D", path))
            continue
        st = entry.stat(follow_symlinks=False)
        below = _lower_entry(lower_dirs, sub)
        if _is_whiteout(st):
            kind = "D"
        elif below is None:
            kind = "A"
        else:
            kind = "C" if _stat_differs(*below, st, entry.path) else ""
        if kind:
            out.append(Change(kind, path))
        if stat.S_ISDIR(st.st_mode):
            hides = below is not None and stat.S_ISDIR(below[0].st_mode) and is_opaque(entry.path, "overlay")
            stack.append(_listing(entry.path, sub, bool(kind), hides, len(out), lower_dirs))
    return out


def _lower_names(lower_dirs: list[str], parts: list[str]) -> set[str]:
    """What a directory of the lower layers holds, merged: what an opaque copy of it hides."""
    names: set[str] = set()
    hidden: set[str] = set()
    for layer in lower_dirs:
        found, hides_below = _lookup(layer, parts)
        if found is None:
            if hides_below:
                break
            continue
        if not stat.S_ISDIR(found.st_mode):
            break
        directory = os.path.join(layer, *parts)
        for entry in os.scandir(directory):
            if _is_whiteout(entry.stat(follow_symlinks=False)):
                hidden.add(entry.name)
            elif entry.name not in hidden:
                names.add(entry.name)
        if is_opaque(directory, "overlay"):
            break
    return names


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _lower_entry(lower_dirs: list[str], parts: list[str]) -> tuple[os.stat_result, str] | None:
    """The path as the lower layers show it (its stat and where it lives): the uppermost layer
    that has it, honouring the whiteouts and opaque directories of the layers above."""
    for layer in lower_dirs:
        found, hides_below = _lookup(layer, parts)
        if found is not None:
            return None if _is_whiteout(found) else (found, os.path.join(layer, *parts))
        if hides_below:
            return None
    return None


def _lookup(layer: str, parts: list[str]) -> tuple[os.stat_result | None, bool]:
    """(stat of the path in this layer, whether this layer hides it in the layers below)."""
    path = layer
    opaque = False
    for i, part in enumerate(parts):
        path = os.path.join(path, part)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None, opaque
        if i == len(parts) - 1:
            return st, False
        if not stat.S_ISDIR(st.st_mode):
            return None, True
        opaque = opaque or is_opaque(path, "overlay")
    return None, False


# -- vfs -------------------------------------------------------------------------------------


class _Node:
    """A path of the merged lower layers: its stat, where it lives, children (None: not a dir)."""

    __slots__ = ("st", "path", "children")

    def __init__(self, st: os.stat_result | None, path: str, children: dict[str, _Node] | None) -> None:
        self.st = st
        self.path = path
        self.children = children


def merged_view(layers: list[tuple[Path, str]]) -> _Node:
    """The tree the lower layers (uppermost first) show together, from their whiteouts."""
    root = _Node(None, "", {})
    for layer, whiteouts in reversed(layers):
        _overlay_onto(root, str(layer), whiteouts)
    return root


def _overlay_onto(root: _Node, top: str, whiteouts: str) -> None:
    """Lay one layer's tree over the merged view. Each directory changes only its own node's
    children, so a work list (not recursion: the layer picks the depth) gives the same view."""
    todo = [(root, top)]
    while todo:
        node, directory = todo.pop()
        assert node.children is not None
        entries = list(os.scandir(directory))
        for entry in entries:
            hidden = whited_out(entry, whiteouts)
            if hidden is not None:
                node.children.pop(hidden, None)
        for entry in entries:
            if whited_out(entry, whiteouts) is not None or is_marker(entry.name, whiteouts):
                continue
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):
                node.children[entry.name] = _Node(st, entry.path, None)
                continue
            child = node.children.get(entry.name)
            if child is None or child.children is None or is_opaque(entry.path, whiteouts):
                child = node.children[entry.name] = _Node(st, entry.path, {})
            child.st, child.path = st, entry.path
            todo.append((child, entry.path))


def vfs_changes(root: str, layers: list[tuple[Path, str]]) -> list[Change]:
    out: list[Change] = []
    _compare(root, "/", merged_view(layers), out, recorded=True)
    return out


@dataclass
class _Comparing:
    """One directory of the copy being compared: the names left, and where its changes start."""

    directory: str
    path: str
    old_children: dict[str, _Node]
    current: dict[str, os.DirEntry]
    names: Iterator[str]
    at: int
    recorded: bool


def _comparing(directory: str, path: str, old: _Node | None, at: int, recorded: bool) -> _Comparing:
    old_children = old.children if old is not None and old.children is not None else {}
    current = {e.name: e for e in os.scandir(directory)}
    names = iter(sorted(set(current) | set(old_children), key=os.fsencode))
    return _Comparing(directory, path, old_children, current, names, at, recorded)


def _compare(directory: str, path: str, old: _Node | None, out: list[Change], recorded: bool) -> None:
    """Docker's addChanges, directory by directory of the copy against the merged lower view,
    depth first; a directory with changes below it but none of its own is noted "C" before
    them once they are known. An explicit stack: the container picks the depth."""
    stack = [_comparing(directory, path, old, len(out), recorded)]
    while stack:
        frame = stack[-1]
        name = next(frame.names, None)
        if name is None:
            stack.pop()
            if len(out) > frame.at and not frame.recorded:
                out.insert(frame.at, Change("C", frame.path))
            continue
        child_path = _join(frame.path, name)
        entry, before = frame.current.get(name), frame.old_children.get(name)
        if entry is None:
            out.append(Change("D", child_path))
            continue
        st = entry.stat(follow_symlinks=False)
        noted = True
        if before is None:
            out.append(Change("A", child_path))
        elif before.st is not None and _stat_differs(before.st, before.path, st, entry.path):
            out.append(Change("C", child_path))
        else:
            noted = False
        if stat.S_ISDIR(st.st_mode):
            stack.append(_comparing(entry.path, child_path, before, len(out), noted))


def _stat_differs(old: os.stat_result, old_path: str, st: os.stat_result, path: str) -> bool:
    """Docker's statDifferent: a directory's size and mtime do not count (adding a file inside
    changes them; the directory is listed for what it holds instead)."""
    if (old.st_mode, old.st_uid, old.st_gid, old.st_rdev) != (st.st_mode, st.st_uid, st.st_gid, st.st_rdev):
        return True
    if not stat.S_ISDIR(st.st_mode) and (old.st_mtime_ns != st.st_mtime_ns or old.st_size != st.st_size):
        return True
    return _capability(old_path) != _capability(path)


def _capability(path: str) -> bytes | None:
    try:
        return os.getxattr(path, _CAPABILITY, follow_symlinks=False)
    except OSError:
        return None


def changes_size(root: str, found: list[Change]) -> int:
    """Docker's ChangesSize: added and changed non-directories, each hardlinked inode once."""
    size = 0
    seen: set[int] = set()
    for change in found:
        if change.kind == "D":
            continue
        st = os.lstat(root + change.path)
        if stat.S_ISDIR(st.st_mode) or (st.st_nlink > 1 and st.st_ino in seen):
            continue
        seen.add(st.st_ino)
        size += st.st_size
    return size
