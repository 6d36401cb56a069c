"""The layer store: extracted layers under layers/<id>/diff, overlay2-style, one row each."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from . import damaged
from . import digest as dg
from .blobs import BlobStore
from .db import Database, write
from .errors import DigestMismatch, InvalidInput, NotFound
from .fsutil import copy_tree, new_scratch_dir, rmtree
from .leases import Lease
from .paths import Layout
from .trash import Trash

TYPE_CHECKING = False  # typing costs ~5 ms to import, more than a cached build's work; mypy takes this as True
if TYPE_CHECKING:
    from typing import BinaryIO

    from .layerfs.extract import Extracted, Limits


class Ingested:
    """A layer extracted under ingest/, not yet visible: `path` holds diff/."""

    __slots__ = ("path", "info")

    def __init__(self, path: Path, info: Extracted) -> None:
        self.path, self.info = path, info


def link_name(chain_id: str) -> str:
    """A stable 26-character name for l/, keeping overlay's mount options short."""
    import base64
    import hashlib  # ~5 ms to import: commands that only read layers never hash

    return base64.b32encode(hashlib.sha256(chain_id.encode()).digest()).decode()[:26]


def layer_dir_name(chain_id: str) -> str:
    return dg.hex_of(chain_id)


class LayerStore:
    def __init__(self, layout: Layout, db: Database, blobs: BlobStore, trash: Trash) -> None:
        self.layout = layout
        self.db = db
        self.blobs = blobs
        self.trash = trash

    def ingest(self, stream: BinaryIO, lease: Lease, limits: Limits | None = None) -> Ingested:
        """Extract an uncompressed layer tar into a private directory under ingest/<lease>/."""
        scratch = self.layout.ingest / lease.id
        scratch.mkdir(exist_ok=True)
        work = new_scratch_dir(scratch, "layer-")
        diff = work / "diff"
        diff.mkdir()
        try:
            from .layerfs.extract import Limits, extract  # only writers pay for tarfile

            info = extract(stream, str(diff), limits or Limits.from_env())
        except BaseException:
            rmtree(str(work), ignore_errors=True)
            raise
        return Ingested(work, info)

    def copy_of(self, chain: str, info: Extracted, lease: Lease) -> Ingested:
        """A fresh ingest copy of a stored layer's files, to commit the same diff under another parent."""
        work = new_scratch_dir(self.layout.ingest / lease.id, "layer-")
        copy_tree(str(self.diff_path(chain)), str(work / "diff"))
        return Ingested(work, info)

    def commit(self, ingested: Ingested, parent: str | None, lease: Lease) -> str:
        """Make the layer visible (rename, then row) or reuse the one already stored."""
        info = ingested.info
        chain = dg.chain_id(parent, info.diff_id)
        name = layer_dir_name(chain)
        short = link_name(chain)
        with write(self.db):
            lease.add("layer", chain)  # first: a lapsed lease stops the commit before anything is made
            tarsplit = self.blobs.put(info.tarsplit)
            stored = self.exists(chain)
            if stored and not damaged.is_marked(self.db, chain):
                rmtree(str(ingested.path))
                return chain
            lower = self._lower(parent)
            if lower:
                (ingested.path / "lower").write_text(lower)
            (ingested.path / "link").write_text(short)
            self.trash.claim(f"layers/{name}")  # a damaged copy goes to the trash
            os.rename(ingested.path, self.layout.layers / name)
            if stored:  # healed: the same chain, its l/ link and row stay, its files are new
                self.db.execute(
                    "UPDATE layers SET size = ?, disk = ?, entries = ?, tarsplit = ?, whiteouts = ? WHERE chain_id = ?",
                    [info.size, info.disk, info.entries, tarsplit, info.whiteouts, chain],
                )
                damaged.unmark(self.db, chain)
                return chain
            self.trash.claim(f"layers/l/{short}")
            os.symlink(f"../{name}/diff", self.layout.links / short)
            self.db.execute(
                "INSERT INTO layers (chain_id, diff_id, parent, dir, short, size, disk, entries, tarsplit,"
                " whiteouts, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    chain,
                    info.diff_id,
                    parent,
                    name,
                    short,
                    info.size,
                    info.disk,
                    info.entries,
                    tarsplit,
                    info.whiteouts,
                    time.time(),
                ],
            )
        return chain

    def delete_rows(self, chains: list[str]) -> None:
        """Inside a write transaction: drop these layers (the collector decided which) and queue
        what they own on disk: directory, l/ link, and each tar-split no remaining layer shares."""
        wanted = json.dumps(chains)
        rows = self.db.execute(
            "SELECT dir, short, tarsplit FROM layers WHERE chain_id IN (SELECT value FROM json_each(?))", [wanted]
        ).fetchall()
        self.db.execute("DELETE FROM layers WHERE chain_id IN (SELECT value FROM json_each(?))", [wanted])
        tarsplits = {tarsplit for _, _, tarsplit in rows}
        shared = {
            r[0]
            for r in self.db.execute(
                "SELECT DISTINCT tarsplit FROM layers WHERE tarsplit IN (SELECT value FROM json_each(?))",
                [json.dumps(sorted(tarsplits))],
            )
        }
        paths = [path for name, short, _ in rows for path in (f"layers/l/{short}", f"layers/{name}")]
        paths += [f"blobs/sha256/{dg.hex_of(t)}" for t in sorted(tarsplits - shared)]
        self.trash.queue(paths)

    def exists(self, chain: str) -> bool:
        return self.db.execute("SELECT 1 FROM layers WHERE chain_id = ?", [chain]).fetchone() is not None

    def intact(self, chain: str) -> bool:
        """Stored and not marked damaged: a load or pull can reuse it instead of extracting it again."""
        return self.exists(chain) and not damaged.is_marked(self.db, chain)

    def get(self, chain: str) -> dict:
        rows = list(self.db.query("SELECT * FROM layers WHERE chain_id = ?", [chain]))
        if not rows:
            raise NotFound(f"layer {chain} not found")
        return rows[0]

    def _lower(self, parent: str | None) -> str:
        """l/<short> of every ancestor, uppermost first, as overlay's lowerdir wants them."""
        shorts = [f"l/{row['short']}" for row in self.ancestry(parent)] if parent else []
        return ":".join(shorts)

    def ancestry(self, chain: str) -> list[dict]:
        """The layer and its parents, uppermost first."""
        rows = list(
            self.db.query(
                "WITH RECURSIVE up(chain_id, depth) AS (SELECT ?, 0 UNION ALL "
                "SELECT l.parent, up.depth + 1 FROM layers l JOIN up ON l.chain_id = up.chain_id "
                "WHERE l.parent IS NOT NULL) "
                "SELECT layers.* FROM up JOIN layers USING (chain_id) ORDER BY up.depth",
                [chain],
            )
        )
        if not rows:
            raise NotFound(f"layer {chain} not found")
        return rows

    def diff_path(self, chain: str) -> Path:
        return self.layout.layers / self.get(chain)["dir"] / "diff"

    def tar_size(self, chain: str) -> int:
        from .layerfs.tarsplit import segment_sizes  # only save and push re-assemble

        row = self.get(chain)
        try:
            return sum(segment_sizes(self._tarsplit(row)))
        except _DAMAGE as exc:
            raise _damaged(row, exc) from None

    def tar(self, chain: str) -> Iterator[bytes]:
        """The layer's original tar, re-assembled and verified against its diff_id as it streams;
        damage (to the tar-split or the files) fails as one line naming the layer."""
        import hashlib

        from .layerfs.tarsplit import assemble

        row = self.get(chain)
        digest = hashlib.sha256()
        try:
            for chunk in assemble(str(self.layout.layers / row["dir"] / "diff"), self._tarsplit(row)):
                digest.update(chunk)
                yield chunk
        except _DAMAGE as exc:
            raise _damaged(row, exc) from None
        if "sha256:" + digest.hexdigest() != row["diff_id"]:
            raise DigestMismatch(
                f"layer {row['diff_id']} re-assembles to sha256:{digest.hexdigest()}: the layer on disk was modified"
            )

    def _tarsplit(self, row: dict) -> bytes:
        """The layer's tar-split blob, checked against its digest first."""
        blob = self.blobs.get(row["tarsplit"])
        found = dg.sha256_bytes(blob)
        if found != row["tarsplit"]:
            raise InvalidInput(f"its tar-split blob {row['tarsplit']} hashes to {found}")
        return blob


# What re-assembling a damaged layer meets: a garbled tar-split, a file missing or shorter than its entry.
_DAMAGE = (InvalidInput, NotFound, OSError)


def _damaged(row: dict, exc: Exception) -> DigestMismatch:
    why = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) else str(exc)
    return DigestMismatch(f"layer {row['diff_id']}: {why}: the layer on disk was damaged")
