"""Resolve a layer path's parent inside the layer root, the way a chroot would, or refuse.

Entry names come from untrusted tars. `..` and absolute names are refused outright; a
symlink met in the parent path is followed only while it stays inside the root (relative
targets that never climb above it). The last component is never followed.
"""

from __future__ import annotations

import os
import stat

from ..errors import InvalidInput

MAX_LINK_HOPS = 40


def split_name(name: str, what: str = "entry") -> list[str]:
    """A tar member name as path components; '' for the root itself."""
    if name.startswith("/"):
        raise InvalidInput(f"{what} {name!r}: absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidInput(f"{what} {name!r}: path traversal ('..')")
    return parts


def resolve_dir(root: str, parts: list[str], name: str, create: bool) -> list[str]:
    """The real components (relative to root) of the directory `parts` names.

    Missing directories are created (0755) when `create` is true, as tar extraction does.
    """
    resolved: list[str] = []
    queue = list(parts)
    hops = 0
    while queue:
        part = queue.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                raise InvalidInput(f"entry {name!r}: symlink in its path leads outside the layer")
            resolved.pop()
            continue
        candidate = "/".join([root, *resolved, part])  # os.path.join is quadratic in the depth
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            if not create:
                raise InvalidInput(f"entry {name!r}: {'/'.join(resolved + [part])} does not exist") from None
            os.mkdir(candidate, 0o755)
            resolved.append(part)
            continue
        if stat.S_ISDIR(st.st_mode):
            resolved.append(part)
        elif stat.S_ISLNK(st.st_mode):
            hops += 1
            target = os.readlink(candidate)
            if hops > MAX_LINK_HOPS or target.startswith("/"):
                raise InvalidInput(f"entry {name!r}: symlink in its path leads outside the layer")
            queue[:0] = target.split("/")
        else:
            raise InvalidInput(f"entry {name!r}: {'/'.join(resolved + [part])} is not a directory")
    return resolved
