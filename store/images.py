"""The image store: configs as blobs, one row per image, its layer chain, tags and digests."""

from __future__ import annotations

import json
import sqlite3
import time

from . import damaged, reference
from . import digest as dg
from .db import Database, write
from .errors import Conflict, InvalidInput, NotFound
from .reference import Reference

TYPE_CHECKING = False  # typing costs ~5 ms to import, more than a cached build's work; mypy takes this as True
if TYPE_CHECKING:
    from typing import Any

    from .blobs import BlobStore
    from .layers import LayerStore
    from .leases import Lease

_HEX = set("0123456789abcdef")


class Removal:
    """What `rmi` of one name decided: the names it took (Docker's `Untagged:` lines) and the
    image to delete, if nothing else holds it. The collector deletes it, with whatever that
    leaves unreachable."""

    __slots__ = ("untagged", "image_id")

    def __init__(self, untagged: list[str], image_id: str | None) -> None:
        self.untagged, self.image_id = untagged, image_id


def child_config(
    parent: dict[str, Any],
    config: dict[str, Any],
    container: str,
    container_config: dict[str, Any],
    created_by: str,
    diff_id: str | None,
    author: str = "",
    comment: str = "",
) -> bytes:
    """A child image's config as Docker's NewChildImage writes it (commit and build): the
    parent's rootfs and history plus one entry, `empty_layer` and no layer when nothing
    changed; top-level keys sorted, compact. `parent` is {} for an image built FROM scratch."""
    from .timeutil import rfc3339_nano  # only writers format times

    created = rfc3339_nano(time.time())
    entry: dict[str, Any] = {"created": created}
    if author:
        entry["author"] = author
    entry["created_by"] = created_by
    if comment:
        entry["comment"] = comment
    if diff_id is None:
        entry["empty_layer"] = True
    diff_ids = list((parent.get("rootfs") or {}).get("diff_ids") or []) + ([diff_id] if diff_id else [])
    image: dict[str, Any] = {
        "architecture": parent.get("architecture") or "amd64",
        "config": config,
        "container": container,
        "container_config": container_config,
        "created": created,
        "history": list(parent.get("history") or []) + [entry],
        "os": parent.get("os") or "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if author:
        image["author"] = author
    for key in ("variant", "os.version", "os.features"):
        if parent.get(key):
            image[key] = parent[key]
    return json.dumps(dict(sorted(image.items())), separators=(",", ":")).encode()


def parse_config(data: bytes) -> dict:
    """The config as `create` reads it, checked by the image model so that every way an image
    comes in (load, pull, commit) is held to the same rules."""
    from .oci.model import ImageConfig  # only writers parse configs

    ImageConfig.parse(data)
    return json.loads(data)


class ImageStore:
    def __init__(self, db: Database, blobs: BlobStore, layers: LayerStore) -> None:
        self.db = db
        self.blobs = blobs
        self.layers = layers

    # -- writing -----------------------------------------------------------------------------

    def create(self, config_bytes: bytes, lease: Lease, parent: str | None = None) -> str:
        """Record an image whose layers are already committed; returns its ID (config digest)."""
        config = parse_config(config_bytes)
        chains = dg.chain_ids(config["rootfs"].get("diff_ids") or [])
        labels = (config.get("config") or {}).get("Labels")
        image_id = dg.sha256_bytes(config_bytes)
        with write(self.db):
            lease.add("image", image_id)  # first: a lapsed lease stops the commit before anything is made
            self.blobs.put(config_bytes)
            damaged.unmark(self.db, image_id)  # the put rewrote a damaged config
            if self.exists(image_id):
                return image_id
            for chain in chains:
                if not self.layers.exists(chain):
                    raise InvalidInput(f"image {image_id}: layer {chain} is not in the store")
            size = self.db.execute(
                "SELECT COALESCE(SUM(size), 0) FROM layers WHERE chain_id IN (SELECT value FROM json_each(?))",
                [json.dumps(chains)],
            ).fetchone()[0]
            self.db.execute(
                "INSERT INTO images (id, parent, created, added, architecture, os, variant, config_size, labels, size)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    image_id,
                    parent,
                    config.get("created"),
                    lease.started,
                    config.get("architecture"),
                    config.get("os"),
                    config.get("variant"),
                    len(config_bytes),
                    json.dumps(labels) if labels else None,
                    size,
                ],
            )
            self.db.conn.executemany(
                "INSERT INTO image_layers (image_id, position, chain_id) VALUES (?, ?, ?)",
                [(image_id, i, chain) for i, chain in enumerate(chains)],
            )
        return image_id

    def set_parents(self, parents: dict[str, str]) -> None:
        """Record image ID -> Parent links, also for images that were already stored."""
        with write(self.db):
            self.db.conn.executemany("UPDATE images SET parent = ? WHERE id = ?", [(p, i) for i, p in parents.items()])

    def hold(self, name: str, lease: Lease) -> str:
        """The image `name` resolves to, held by `lease` from this read on: a prune between
        finding an image and writing what refers to it would leave the write pointing at nothing."""
        with write(self.db):
            image_id = self.resolve(name)
            lease.add("image", image_id)
        return image_id

    def tag(self, image: str, ref: Reference) -> str | None:
        """Point `ref` at the image `image` names (an ID or any name `resolve` takes), found in
        the transaction that tags it, so that no prune can come between; returns the image the
        tag was taken from, if any."""
        if not ref.tag:
            raise InvalidInput(f"{ref}: a tag is required")
        with write(self.db):
            image_id = self.resolve(image)
            row = self.db.execute(
                "SELECT image_id FROM tags WHERE repository = ? AND tag = ?", [ref.repository, ref.tag]
            ).fetchone()
            self.db.execute(
                "INSERT OR REPLACE INTO tags (repository, tag, image_id, created) VALUES (?, ?, ?, ?)",
                [ref.repository, ref.tag, image_id, time.time()],
            )
        return row[0] if row and row[0] != image_id else None

    def add_digest(self, image_id: str, ref: Reference) -> None:
        assert ref.digest
        self.db.execute(
            "INSERT OR REPLACE INTO digests (repository, digest, image_id, created) VALUES (?, ?, ?, ?)",
            [ref.repository, ref.digest, image_id, time.time()],
        )

    def pin(self, image_id: str) -> None:
        """A root for the collector: no prune or policy takes the image until it is unpinned."""
        self.db.execute("INSERT OR REPLACE INTO pins (image_id, created) VALUES (?, ?)", [image_id, time.time()])

    def unpin(self, image_id: str) -> None:
        self.db.execute("DELETE FROM pins WHERE image_id = ?", [image_id])

    def pin_of(self, image_id: str) -> dict[str, Any] | None:
        """How the image is pinned, for `inspect` and `pin ls`: By "pin" (`bilge pin`, Since
        when) and/or "label" (bilge.pin=true in its config, no time of its own); None if not."""
        from .catalog import pinned_by_label

        row = self.db.execute("SELECT created FROM pins WHERE image_id = ?", [image_id]).fetchone()
        labels = self.get(image_id)["labels"]
        by = (["pin"] if row else []) + (["label"] if pinned_by_label(json.loads(labels) if labels else {}) else [])
        return {"By": by, "Since": row[0] if row else None} if by else None

    def pinned(self) -> list[str]:
        """Every pinned image, by pin or by label, oldest pin first (label pins after, by ID)."""
        from .catalog import PIN_LABEL

        ids = [r[0] for r in self.db.execute("SELECT image_id FROM pins ORDER BY created, image_id")]
        labelled = self.db.execute(
            "SELECT id FROM images WHERE labels LIKE ? ORDER BY id", [f'%"{PIN_LABEL}"%']
        ).fetchall()
        return list(dict.fromkeys(ids + [r[0] for r in labelled if self.pin_of(r[0])]))

    def record_built(self, image_id: str) -> None:
        """The builder made this image: while nothing names it, it is build cache. One statement,
        so it joins the caller's write transaction or commits alone; recording twice keeps the first."""
        try:
            self.db.execute(
                "INSERT OR IGNORE INTO build_cache (image_id, created) VALUES (?, ?)", [image_id, time.time()]
            )
        except sqlite3.IntegrityError:  # the foreign key: no such image
            raise NotFound(f"No such image: {image_id}") from None

    def touch(self, image_id: str) -> None:
        self.db.execute("UPDATE images SET last_used = ? WHERE id = ?", [time.time(), image_id])

    # -- reading -----------------------------------------------------------------------------

    def exists(self, image_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM images WHERE id = ?", [image_id]).fetchone() is not None

    def resolve(self, name: str) -> str:
        """An image ID from a full or short ID, NAME[:TAG] or NAME@DIGEST, as Docker looks it up."""
        bare = name.removeprefix("sha256:")
        if reference.is_image_id(name):
            if self.exists("sha256:" + bare):
                return "sha256:" + bare
            raise NotFound(f"No such image: {name}")
        try:
            found = self._by_reference(reference.parse(name))
        except InvalidInput:
            found = None
        if found:
            return found
        if bare and set(bare) <= _HEX:
            rows = self.db.execute(
                "SELECT id FROM images WHERE id >= ? AND id < ? LIMIT 2", ["sha256:" + bare, "sha256:" + bare + "g"]
            ).fetchall()
            if len(rows) > 1:
                raise Conflict(f"image ID prefix {bare!r} is ambiguous")
            if rows:
                return rows[0][0]
        raise NotFound(f"No such image: {name}")

    def _by_reference(self, ref: Reference) -> str | None:
        if ref.digest:
            row = self.db.execute(
                "SELECT image_id FROM digests WHERE repository = ? AND digest = ?", [ref.repository, ref.digest]
            ).fetchone()
        else:
            row = self.db.execute(
                "SELECT image_id FROM tags WHERE repository = ? AND tag = ?", [ref.repository, ref.tag]
            ).fetchone()
        return row[0] if row else None

    def get(self, image_id: str) -> dict:
        rows = list(self.db.query("SELECT * FROM images WHERE id = ?", [image_id]))
        if not rows:
            raise NotFound(f"No such image: {image_id}")
        return rows[0]

    def config(self, image_id: str) -> dict:
        return json.loads(self.blobs.get(image_id))

    def config_bytes(self, image_id: str) -> bytes:
        return self.blobs.get(image_id)

    def chain(self, image_id: str) -> list[str]:
        return [
            r[0]
            for r in self.db.execute(
                "SELECT chain_id FROM image_layers WHERE image_id = ? ORDER BY position", [image_id]
            )
        ]

    def repo_tags(self, image_id: str) -> list[str]:
        return [
            f"{reference.familiar_name(repo)}:{tag}"
            for repo, tag in self.db.execute(
                "SELECT repository, tag FROM tags WHERE image_id = ? ORDER BY repository, tag", [image_id]
            )
        ]

    def tags_of(self, repository: str) -> list[str]:
        """The tags a repository has in this store, sorted."""
        return [r[0] for r in self.db.execute("SELECT tag FROM tags WHERE repository = ? ORDER BY tag", [repository])]

    def repo_digests(self, image_id: str) -> list[str]:
        return [
            f"{reference.familiar_name(repo)}@{d}"
            for repo, d in self.db.execute(
                "SELECT repository, digest FROM digests WHERE image_id = ? ORDER BY repository, digest", [image_id]
            )
        ]

    def size(self, image_id: str) -> int:
        """Docker's Size: the apparent bytes of the image's layers, stored when it was recorded."""
        row = self.db.execute("SELECT size FROM images WHERE id = ?", [image_id]).fetchone()
        if row is None:
            raise NotFound(f"No such image: {image_id}")
        return row[0]

    def children(self, image_id: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM images WHERE parent = ?", [image_id])]

    def users(self, image_id: str) -> list[dict]:
        """Containers created from the image."""
        return list(
            self.db.query("SELECT id, name, state FROM containers WHERE image_id = ? ORDER BY created, id", [image_id])
        )

    # -- removing ----------------------------------------------------------------------------

    def prepare_removal(self, name: str, force: bool = False) -> Removal:
        """Inside the caller's write transaction, `docker rmi`'s rules: untag while other names
        remain, refuse what Docker refuses, and say whether the image itself should go."""
        image_id = self.resolve(name)
        by_ref = self._named_reference(name, image_id)
        if by_ref is not None:
            if not force:
                self._check_last_reference(name, image_id)
            untagged = self._untag(by_ref, image_id)
            if self.repo_tags(image_id) or self.repo_digests(image_id) or self.children(image_id):
                return Removal(untagged, None)
        else:
            repositories = {t.rsplit(":", 1)[0] for t in self.repo_tags(image_id)}
            if not force and len(repositories) > 1:
                raise Conflict(
                    f"conflict: unable to delete {_short(image_id)} (must be forced) - "
                    "image is referenced in multiple repositories"
                )
            if self.children(image_id):
                raise Conflict(
                    f"conflict: unable to delete {_short(image_id)} (cannot be forced) - "
                    "image has dependent child images"
                )
            untagged = self.repo_tags(image_id) + self.repo_digests(image_id)
            self.db.execute("DELETE FROM tags WHERE image_id = ?", [image_id])
            self.db.execute("DELETE FROM digests WHERE image_id = ?", [image_id])
        shown = name if by_ref else _short(image_id)
        self._check_users(image_id, shown, force)
        if self.users(image_id):
            return Removal(untagged, None)  # forced: the stopped container keeps it, untagged
        self._check_pins(image_id, shown, force)
        return Removal(untagged, image_id)

    def _check_last_reference(self, name: str, image_id: str) -> None:
        """Docker's rule before untagging: the last name of an image a container uses (one tag,
        and every reference in one repository) goes only with -f, or the image would be left
        unnamed under its container."""
        tags = self.repo_tags(image_id)
        repositories = {t.rsplit(":", 1)[0] for t in tags} | {d.rsplit("@", 1)[0] for d in self.repo_digests(image_id)}
        users = self.users(image_id)
        if users and len(tags) <= 1 and len(repositories) <= 1:
            raise Conflict(
                f'conflict: unable to remove repository reference "{name}" (must force) - container '
                f"{users[0]['id'][:12]} is using its referenced image {_short(image_id)}"
            )

    def _check_pins(self, image_id: str, shown: str, force: bool) -> None:
        """A pin is a root of the collector: rmi lifts one only when forced, and never a label's."""
        from .catalog import PIN_LABEL, pinned_by_label

        labels = self.get(image_id)["labels"]
        if pinned_by_label(json.loads(labels) if labels else {}):
            raise Conflict(
                f"conflict: unable to delete {shown} (cannot be forced) - image is pinned by its label {PIN_LABEL}"
            )
        if self.db.execute("SELECT 1 FROM pins WHERE image_id = ?", [image_id]).fetchone():
            if not force:
                raise Conflict(f"conflict: unable to delete {shown} (must be forced) - image is pinned (bilge unpin)")
            self.db.execute("DELETE FROM pins WHERE image_id = ?", [image_id])

    def _named_reference(self, name: str, image_id: str) -> Reference | None:
        if reference.is_image_id(name):
            return None
        try:
            ref = reference.parse(name)
        except InvalidInput:
            return None
        return ref if self._by_reference(ref) == image_id else None

    def _untag(self, ref: Reference, image_id: str) -> list[str]:
        """Remove one name; a tag that was the image's last in its repository also takes that
        repository's digest references with it, as Docker does (a pulled image would linger)."""
        if ref.digest:
            self.db.execute("DELETE FROM digests WHERE repository = ? AND digest = ?", [ref.repository, ref.digest])
            return [str(ref)]
        self.db.execute("DELETE FROM tags WHERE repository = ? AND tag = ?", [ref.repository, ref.tag])
        untagged = [str(ref)]
        if self.db.execute(
            "SELECT 1 FROM tags WHERE repository = ? AND image_id = ?", [ref.repository, image_id]
        ).fetchone():
            return untagged
        for (digest,) in self.db.execute(
            "SELECT digest FROM digests WHERE repository = ? AND image_id = ?", [ref.repository, image_id]
        ).fetchall():
            self.db.execute("DELETE FROM digests WHERE repository = ? AND digest = ?", [ref.repository, digest])
            untagged.append(f"{ref.familiar}@{digest}")
        return untagged

    def _check_users(self, image_id: str, shown: str, force: bool) -> None:
        for user in self.users(image_id):
            if user["state"] == "running":
                raise Conflict(
                    f"conflict: unable to delete {shown} (cannot be forced) - image is being used by running container {user['id'][:12]}"
                )
            if not force:
                raise Conflict(
                    f"conflict: unable to delete {shown} (must be forced) - image is being used by stopped container {user['id'][:12]}"
                )

    def delete_rows(self, image_ids: list[str]) -> None:
        """Inside a write transaction: drop the images (names, chains and build-cache records go
        with them, by trigger) and queue their configs. The collector decides which; their layers
        are its to sweep."""
        self.db.execute("DELETE FROM images WHERE id IN (SELECT value FROM json_each(?))", [json.dumps(image_ids)])
        self.layers.trash.queue([f"blobs/sha256/{dg.hex_of(i)}" for i in image_ids])


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]
