"""`check --deep`: every image's config re-hashed against its ID and every layer re-assembled
through its tar-split against its diff_id, which is what a plain `check` (rows and files, not
their bytes) cannot see: a truncated config or tar-split, a bit flipped or a file lost in a layer.

Reading every byte of the store takes a while, so it runs in a read transaction and writers go
on meanwhile; `--repair` then marks what it found (store/damaged.py) in one short write.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import digest as dg
from .core import Store
from .db import read
from .errors import DigestMismatch, NotFound


@dataclass(frozen=True)
class Damage:
    kind: str  # "config" (ref: the image ID) or "layer" (ref: its chain ID)
    ref: str
    name: str  # the object as a person knows it: "image ID", "layer DIFF_ID"
    why: str  # one line, starting with the name
    images: tuple[str, ...]  # the names of the images it breaks (a short ID where one has none)


def find_damage(store: Store) -> list[Damage]:
    found: list[tuple[str, str, str, str]] = []
    with read(store.db):
        for (image_id,) in store.db.execute("SELECT id FROM images ORDER BY id").fetchall():
            try:
                digest = dg.sha256_bytes(store.blobs.get(image_id))
            except NotFound:
                continue  # a plain check reports a missing config
            if digest != image_id:
                name = f"image {image_id}"
                found.append(("config", image_id, name, f"{name}: its config blob hashes to {digest}"))
        rows = store.db.execute("SELECT chain_id, diff_id FROM layers ORDER BY chain_id").fetchall()
        for chain, diff_id in rows:
            try:
                for _ in store.layers.tar(chain):
                    pass
            except DigestMismatch as exc:
                found.append(("layer", chain, f"layer {diff_id}", str(exc)))
        return [Damage(kind, ref, name, why, broken_by(store, kind, ref)) for kind, ref, name, why in found]


def broken_by(store: Store, kind: str, ref: str) -> tuple[str, ...]:
    """The images that stand on the object: the config's own, or every image holding the layer."""
    if kind == "config":
        ids = [ref]
    else:
        ids = [
            r[0]
            for r in store.db.execute(
                "SELECT DISTINCT image_id FROM image_layers WHERE chain_id = ? ORDER BY image_id", [ref]
            )
        ]
    return tuple(name for image_id in ids for name in names_of(store, image_id))


def names_of(store: Store, image_id: str) -> list[str]:
    """How a person knows the image: its tags, else its short ID."""
    return store.images.repo_tags(image_id) or [dg.hex_of(image_id)[:12]]
