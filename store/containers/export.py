"""A container's changes as a layer tar, as Docker's commit writes it: each storage driver
reads its changes in its own way and writes them through one of these.

overlay: the upperdir with overlay's whiteouts turned into the OCI/AUFS form (a char 0/0
device -> `.wh.<name>`, an opaque directory -> the directory plus `.wh..wh..opq`). vfs: the
changed paths of `diff`, deletions as `.wh.` files.
"""

from __future__ import annotations

import os
import stat
import tarfile
import time
from collections.abc import Callable

from ..fsutil import walk
from ..layerfs.whiteouts import OPAQUE, WHITEOUT_PREFIX, is_opaque
from .changes import Change

_CAPABILITY = "security.capability"
Writer = Callable[[tarfile.TarFile], None]


def write_upper(tf: tarfile.TarFile, upper: str) -> None:
    """The upperdir in walk order, overlay whiteouts converted (Docker's overlayWhiteoutConverter)."""
    for parent, dirnames, filenames in walk(upper):
        dirnames.sort(key=os.fsencode)
        for name in sorted(dirnames + filenames, key=os.fsencode):
            path = os.path.join(parent, name)
            arcname = os.path.relpath(path, upper)
            st = os.lstat(path)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                _whiteout(tf, os.path.join(os.path.dirname(arcname), WHITEOUT_PREFIX + name), 0o600, st)
                continue
            _add(tf, path, arcname)
            if stat.S_ISDIR(st.st_mode) and is_opaque(path, "overlay"):
                _whiteout(tf, os.path.join(arcname, OPAQUE), stat.S_IMODE(st.st_mode), st)


def write_changes(tf: tarfile.TarFile, root: str, found: list[Change]) -> None:
    """Docker's ExportChanges: each added or changed path from the copy, deletions as whiteouts."""
    for change in found:
        arcname = change.path.lstrip("/")
        if change.kind == "D":
            directory, name = os.path.split(arcname)
            _whiteout(tf, os.path.join(directory, WHITEOUT_PREFIX + name), 0)
        else:
            _add(tf, root + change.path, arcname)


def _whiteout(tf: tarfile.TarFile, arcname: str, mode: int, like: os.stat_result | None = None) -> None:
    """An empty regular file; owned and dated like the entry it stands for, if there is one."""
    info = tarfile.TarInfo(arcname)
    info.mode = mode
    if like is not None:
        info.uid, info.gid, info.mtime = like.st_uid, like.st_gid, int(like.st_mtime)
    else:
        info.mtime = int(time.time())
    tf.addfile(info)


def _add(tf: tarfile.TarFile, path: str, arcname: str) -> None:
    info = tf.gettarinfo(path, arcname)
    info.uname = info.gname = ""  # numeric owners only: the host's user names mean nothing here
    info.mtime = int(info.mtime)
    try:
        capability = os.getxattr(path, _CAPABILITY, follow_symlinks=False)
    except OSError:
        capability = None
    if capability is not None:
        info.pax_headers = {
            "SCHILY.xattr." + _CAPABILITY: capability.decode("utf-8", "surrogateescape"),
            "hdrcharset": "BINARY",
        }
    if info.isreg():
        with open(path, "rb") as f:
            tf.addfile(info, f)
    else:
        tf.addfile(info)
