"""The OCI layer spec's whiteout names, overlayfs's marker for an opaque directory, and how a
stored layer says what it hides in either format (overlay: char 0/0 devices and a trusted
xattr, under root; aufs: `.wh.` files, without)."""

from __future__ import annotations

import os
import stat

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"


def whited_out(entry: os.DirEntry, whiteouts: str) -> str | None:
    """The name a whiteout entry hides, or None if it is content (or AUFS bookkeeping)."""
    if whiteouts == "aufs":
        hidden = entry.name[len(WHITEOUT_PREFIX) :] if entry.name.startswith(WHITEOUT_PREFIX) else None
        return None if hidden is None or hidden.startswith(WHITEOUT_PREFIX) else hidden
    st = entry.stat(follow_symlinks=False)
    return entry.name if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0 else None


def is_marker(name: str, whiteouts: str) -> bool:
    """An AUFS whiteout or bookkeeping file: not content of the layer."""
    return whiteouts == "aufs" and name.startswith(WHITEOUT_PREFIX)


def is_opaque(path: str, whiteouts: str) -> bool:
    if whiteouts == "aufs":
        return os.path.lexists(os.path.join(path, OPAQUE))
    try:
        return os.getxattr(path, OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False
