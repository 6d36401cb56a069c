"""Toy reference graphs: a real Store in a temporary directory, filled by SQL.

The unit tier tests the collector's decisions, not loading or extraction, so rows are
inserted directly, with just enough on disk for each row's files to exist: a layer's
layers/<dir>/diff directory (one file inside, so "gone" means the tree went), its
layers/l/<short> link and its tar-split blob, an image's config blob. Every digest is a real
sha256 digest and every chain ID a real chain ID, so the store's own validation accepts them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Set as AbstractSet
from pathlib import Path

from bilge.gc.graph import Graph
from bilge.gc.sweep import Swept, sweep
from bilge.store import digest as dg
from bilge.store import reference
from bilge.store.core import Store
from bilge.store.db import write
from bilge.store.layers import layer_dir_name, link_name
from bilge.store.timeutil import rfc3339_nano

T0 = 1_700_000_000.0  # a fixed "now" for policies; lease expiries use the real clock, as the catalog does
DAY = 86400.0


def sha(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


_EMPTY_DB: bytes | None = None


def _empty_db() -> bytes:
    """A freshly migrated, empty bilge.db, made once by the real Store and copied into every toy
    store: migrating costs more than the rest of a small example (the sweep property builds
    dozens of stores), and a copy of what Store made is the same database."""
    global _EMPTY_DB
    if _EMPTY_DB is None:
        with tempfile.TemporaryDirectory() as scratch:
            store = Store(Path(scratch))
            store.close()  # the last connection checkpoints the WAL into bilge.db
            _EMPTY_DB = (Path(scratch) / "bilge.db").read_bytes()
    return _EMPTY_DB


class Toy:
    """Builder for one store. Layers and images are named; the builder remembers names -> IDs."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True)
        (self.root / "bilge.db").write_bytes(_empty_db())
        self.store = Store(self.root)
        self.db = self.store.db
        self.layer_ids: dict[str, str] = {}
        self.image_ids: dict[str, str] = {}
        self.container_ids: dict[str, str] = {}

    # -- rows --------------------------------------------------------------------------------

    def layer(
        self,
        name: str,
        parent: str | None = None,
        size: int = 1000,
        disk: int | None = None,
        tarsplit: str | None = None,
    ) -> str:
        """One layer row on top of `parent` (a chain ID), with its directory, link and tar-split.

        `tarsplit` names the tar-split content: layers given the same name share one blob, as
        two layers with identical headers do. Returns the chain ID."""
        diff_id = sha("diff:" + name)
        chain = dg.chain_id(parent, diff_id)
        if chain in self.layer_ids.values():
            return chain
        directory, short = layer_dir_name(chain), link_name(chain)
        diff = self.root / "layers" / directory / "diff"
        diff.mkdir(parents=True)
        (diff / "file").write_bytes(b"x" * 7)
        os.symlink(f"../{directory}/diff", self.root / "layers" / "l" / short)
        blob = ("tarsplit:" + (tarsplit or name)).encode()
        tarsplit_digest = dg.sha256_bytes(blob)
        (self.root / "blobs" / "sha256" / dg.hex_of(tarsplit_digest)).write_bytes(blob)
        self.db.execute(
            "INSERT INTO layers (chain_id, diff_id, parent, dir, short, size, disk, entries, tarsplit, whiteouts,"
            " created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                chain,
                diff_id,
                parent,
                directory,
                short,
                size,
                size if disk is None else disk,
                1,
                tarsplit_digest,
                "[]",
                T0,
            ],
        )
        self.layer_ids[name] = chain
        return chain

    def stack(self, *specs: str | tuple[str, int]) -> list[str]:
        """A chain of layers bottom first, each `name` or `(name, size)`; returns their chain IDs.

        Stacks that start with the same names share those layers, as images built FROM the
        same base do."""
        chains: list[str] = []
        for spec in specs:
            name, size = (spec, 1000) if isinstance(spec, str) else spec
            chains.append(self.layer(name, chains[-1] if chains else None, size))
        return chains

    def image(
        self,
        name: str,
        chain: list[str],
        parent: str | None = None,
        created: float | None = T0,
        added: float = T0,
        last_used: float | None = None,
        labels: dict[str, str] | None = None,
        tags: tuple[str, ...] = (),
        built: bool = False,
        created_by: str | None = None,
    ) -> str:
        """An image row over `chain` (chain IDs, bottom first), with its config blob; returns its ID.

        `built` records it as a build's step (its build_cache row made when it was `added`),
        `created_by` as the last history entry's command."""
        diff_ids = [self.db.execute("SELECT diff_id FROM layers WHERE chain_id = ?", [c]).fetchone()[0] for c in chain]
        config = {
            "comment": name,
            "created": rfc3339_nano(created) if created is not None else None,
            "config": {"Labels": labels} if labels else {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        if created_by is not None:
            config["history"] = [{"created_by": created_by}]
        data = json.dumps(config, sort_keys=True).encode()
        image_id = dg.sha256_bytes(data)
        (self.root / "blobs" / "sha256" / dg.hex_of(image_id)).write_bytes(data)
        size = sum(self.db.execute("SELECT size FROM layers WHERE chain_id = ?", [c]).fetchone()[0] for c in chain)
        self.db.execute(
            "INSERT INTO images (id, parent, created, added, last_used, architecture, os, config_size, labels, size)"
            " VALUES (?, ?, ?, ?, ?, 'amd64', 'linux', ?, ?, ?)",
            [
                image_id,
                parent,
                config["created"],
                added,
                last_used,
                len(data),
                json.dumps(labels) if labels else None,
                size,
            ],
        )
        self.db.conn.executemany(
            "INSERT INTO image_layers (image_id, position, chain_id) VALUES (?, ?, ?)",
            [(image_id, i, c) for i, c in enumerate(chain)],
        )
        if built:
            self.db.execute("INSERT INTO build_cache (image_id, created) VALUES (?, ?)", [image_id, added])
        self.image_ids[name] = image_id
        for ref in tags:
            self.tag(image_id, ref)
        return image_id

    def tag(self, image_id: str, ref: str) -> None:
        parsed = reference.parse(ref)
        self.db.execute(
            "INSERT OR REPLACE INTO tags (repository, tag, image_id, created) VALUES (?, ?, ?, ?)",
            [parsed.repository, parsed.tag, image_id, T0],
        )

    def digest(self, image_id: str, repo: str) -> str:
        """A RepoDigest (what a pull records): a name that is not a tag."""
        manifest = sha(f"manifest:{repo}:{image_id}")
        self.db.execute(
            "INSERT INTO digests (repository, digest, image_id, created) VALUES (?, ?, ?, ?)",
            [reference.parse(repo, default_tag=False).repository, manifest, image_id, T0],
        )
        return manifest

    def container(
        self,
        name: str,
        image_id: str,
        state: str = "exited",
        created: float = T0,
        size_rw: int = 0,
        disk_rw: int | None = None,
        labels: dict[str, str] | None = None,
    ) -> str:
        container_id = hashlib.sha256(("container:" + name).encode()).hexdigest()
        self.db.execute(
            "INSERT INTO containers (id, name, image_id, state, created, finished_at, labels, size_rw, disk_rw)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                container_id,
                name,
                image_id,
                state,
                created,
                None if state == "running" else created + 1,
                json.dumps(labels) if labels else None,
                size_rw,
                size_rw if disk_rw is None else disk_rw,
            ],
        )
        self.container_ids[name] = container_id
        return container_id

    def pin(self, image_id: str) -> None:
        self.db.execute("INSERT INTO pins (image_id, created) VALUES (?, ?)", [image_id, T0])

    def lease(self, *refs: tuple[str, str], live: bool = True) -> str:
        """A lease holding `refs` ((kind, ref) with kind "image" or "layer"), live or lapsed an hour ago."""
        lease_id = uuid.uuid4().hex
        now = time.time()
        self.db.execute(
            "INSERT INTO leases (id, purpose, pid, created, expires) VALUES (?, 'pull', ?, ?, ?)",
            [lease_id, os.getpid(), now - 7200, now + 3600 if live else now - 3600],
        )
        self.db.conn.executemany(
            "INSERT INTO lease_refs (lease_id, kind, ref) VALUES (?, ?, ?)", [(lease_id, k, r) for k, r in refs]
        )
        return lease_id

    # -- reading -----------------------------------------------------------------------------

    def graph(self) -> Graph:
        return Graph.load(self.db)

    def images(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT id FROM images")}

    def layers(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT chain_id FROM layers")}

    def names(self, ids: set[str] | list[str], kind: str = "image") -> set[str]:
        """Builder names for IDs, so assertions read as the graph was drawn."""
        table = self.image_ids if kind == "image" else self.layer_ids
        back = {v: k for k, v in table.items()}
        return {back[i] for i in ids}

    def sweep(self, images: set[str], containers: AbstractSet[str] = frozenset()) -> Swept:
        """The collector's sweep as prune runs it: one write transaction, the graph loaded in it,
        the doomed containers' rows dropped first (they are the caller's), then the trash."""
        with write(self.db):
            graph = Graph.load(self.db)
            self.db.execute(
                "DELETE FROM containers WHERE id IN (SELECT value FROM json_each(?))", [json.dumps(sorted(containers))]
            )
            swept = sweep(self.store, graph, images, containers)
        self.store.trash.finish()
        return swept

    # -- the files a row owns ------------------------------------------------------------------

    def layer_files(self, chain: str) -> tuple[Path, Path]:
        """layers/<dir> and layers/l/<short>."""
        return self.root / "layers" / layer_dir_name(chain), self.root / "layers" / "l" / link_name(chain)

    def blob(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / dg.hex_of(digest)


def exists(path: Path) -> bool:
    return os.path.lexists(path)
