"""An image's file system as its stacked layers show it, read without mounting anything.

A build's COPY must know what the image already has at the destination (a directory to copy
into, owners of the directories it passes, /etc/passwd for --chown). Mounting an overlay for
each needs root and a mount per step; instead each path is looked up through the layer
directories, uppermost first, honouring whiteouts and opaque directories in the format each
layer was stored in.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidInput
from .whiteouts import WHITEOUT_PREFIX, is_opaque

MAX_LINK_HOPS = 40


@dataclass(frozen=True)
class Found:
    """A path of the image: where its bytes are on disk and what it is."""

    disk: Path
    st: os.stat_result


class MergedView:
    def __init__(self, layers: list[tuple[Path, str]]) -> None:
        """`layers`: (diff directory, whiteout format), uppermost first."""
        self.layers = layers

    def lookup(self, parts: list[str]) -> Found | None:
        """The entry at `parts` (components under the root, not resolved), or None."""
        for diff, whiteouts in self.layers:
            hidden_below = False
            here = diff
            for i, part in enumerate(parts):
                parent = here
                here = parent / part
                try:
                    st = os.lstat(here)
                except FileNotFoundError:
                    if whiteouts == "aufs" and os.path.lexists(parent / (WHITEOUT_PREFIX + part)):
                        return None
                    break
                if whiteouts == "overlay" and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    return None
                if i == len(parts) - 1:
                    return Found(here, st)
                if not stat.S_ISDIR(st.st_mode):
                    return None  # a file here hides whatever lower layers have below this name
                if is_opaque(str(here), whiteouts):
                    hidden_below = True
            else:
                if not parts:
                    return Found(diff, os.lstat(diff))
            if hidden_below:
                return None
        return None

    def resolve(self, path: str, follow_last: bool = True) -> list[str]:
        """The components of `path` with every symlink followed inside the image (absolute
        targets from the image's root, never above it), as the image's own processes see it."""
        resolved: list[str] = []
        queue = [p for p in path.split("/") if p not in ("", ".")]
        hops = 0
        while queue:
            part = queue.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            found = self.lookup([*resolved, part])
            if found is not None and stat.S_ISLNK(found.st.st_mode) and (queue or follow_last):
                hops += 1
                if hops > MAX_LINK_HOPS:
                    raise InvalidInput(f"{path}: too many levels of symbolic links")
                target = os.readlink(found.disk)
                if target.startswith("/"):
                    resolved = []
                queue[:0] = [p for p in target.split("/") if p not in ("", ".")]
                continue
            resolved.append(part)
        return resolved
