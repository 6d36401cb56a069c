"""The classic builder's cache: a step is a hit when the current image already has a child
made by the same step.

"The same step" is moby's image/cache compare: the child's recorded container config equals
the one this step would record (its Cmd names the instruction, and for COPY and ADD the
content checksum of the sources, so a changed file misses and a touched one hits), with the
same user, working directory, environment, labels, ports, entrypoint and volumes.
"""

from __future__ import annotations

import json

TYPE_CHECKING = False  # typing costs ~5 ms to import, more than a cached build's work; mypy takes this as True
if TYPE_CHECKING:
    from typing import Any

    from ..core import Store

_SAME = ("User", "WorkingDir", "OpenStdin", "AttachStdout", "AttachStderr", "Cmd", "Env", "Entrypoint")
_SAME_KEYS = ("Labels", "ExposedPorts", "Volumes")


def same_step(a: dict[str, Any] | None, b: dict[str, Any]) -> bool:
    if a is None:
        return False
    for key in _SAME:
        if (a.get(key) or None) != (b.get(key) or None):
            return False
    return all(set(a.get(key) or {}) == set(b.get(key) or {}) for key in _SAME_KEYS) and (
        (a.get("Labels") or {}) == (b.get("Labels") or {})
    )


def signature(recorded: dict[str, Any]) -> str:
    """Everything `same_step` compares, as one string: two container configs are the same step
    exactly when their signatures are equal (memo.py keeps a step's child under it)."""
    values = [recorded.get(key) or None for key in _SAME]
    keys = [sorted(recorded.get(key) or {}) for key in _SAME_KEYS]
    return json.dumps([values, keys, recorded.get("Labels") or {}], sort_keys=True, separators=(",", ":"))


def is_child(store: Store, image_id: str, parent: str | None) -> bool:
    """Whether `image_id` is still in the store, as a child of `parent`."""
    row = store.db.execute("SELECT parent FROM images WHERE id = ?", [image_id]).fetchone()
    return row is not None and row[0] == parent


def lookup(store: Store, parent: str | None, recorded: dict[str, Any]) -> str | None:
    """A child of `parent` (an image without a parent for FROM scratch) made by this step."""
    if parent is None:
        rows = store.db.execute("SELECT id FROM images WHERE parent IS NULL ORDER BY added DESC").fetchall()
    else:
        rows = store.db.execute("SELECT id FROM images WHERE parent = ? ORDER BY added DESC", [parent]).fetchall()
    for (image_id,) in rows:
        config = json.loads(store.images.config_bytes(image_id))
        if same_step(config.get("container_config"), recorded):
            return str(image_id)
    return None
