"""bilge.db: the single source of truth for references, migrated forward by version."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import BilgeError

TYPE_CHECKING = False  # typing costs ~5 ms to import, more than a cached build's work; mypy takes this as True
if TYPE_CHECKING:
    from typing import Any

    import sqlite_utils

Migration = Callable[["sqlite_utils.Database"], None]


class Database:
    """The connection every room shares: plain sqlite3 for queries, so start-up stays lean.

    sqlite-utils (slow to import) is loaded only when an existing store's schema needs migrating.
    """

    def __init__(self, conn: sqlite3.Connection, read_only: str = "", advice: str = "") -> None:
        self.conn = conn
        self.read_only = read_only  # why this store cannot be written, said when a write is tried
        self.advice = advice  # what to do instead, said after it

    def __del__(self) -> None:
        """Close the connection with the last reference to it. sqlite3 keeps a connection in a
        cycle with its own statement cache, so it would otherwise stay open until a garbage
        collection: never, in a command that ends by os._exit. The last connection to close
        moves the WAL into bilge.db and removes it, without which a user who may read the store
        but not write it cannot open the database at all."""
        self.conn.close()

    def refusal(self) -> ReadOnly:
        return ReadOnly(f"{self.read_only}: this command writes, and was not run{self.advice}")

    def execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, tuple(params))
        except sqlite3.OperationalError as exc:
            if self.read_only:  # a write outside write(): a lease, a pin
                raise self.refusal() from None
            if exc.sqlite_errorcode == sqlite3.SQLITE_FULL:
                raise DiskFull("the store's file system is full: free some space (`bilge image prune` can)") from None
            raise

    def query(self, sql: str, params: Iterable[Any] = ()) -> Iterator[dict[str, Any]]:
        cursor = self.conn.execute(sql, tuple(params))
        names = [d[0] for d in cursor.description]
        for row in cursor:
            yield dict(zip(names, row))


def _v1_core(db: sqlite_utils.Database) -> None:
    """Layers, images, their chains, tags, digests, blobs in use, leases and the trash log."""
    db.table("layers").create(
        {
            "chain_id": str,
            "diff_id": str,
            "parent": str,
            "dir": str,
            "short": str,
            "size": int,
            "disk": int,
            "entries": int,
            "tarsplit": str,
            "whiteouts": str,
            "created": float,
        },
        pk="chain_id",
        foreign_keys=[("parent", "layers", "chain_id")],
        not_null={"diff_id", "dir", "short", "size", "disk", "tarsplit", "whiteouts", "created"},
    )
    db.table("layers").create_index(["parent"])
    db.table("layers").create_index(["short"], unique=True)
    db.table("images").create(
        {
            "id": str,
            "parent": str,
            "created": str,
            "added": float,
            "last_used": float,
            "architecture": str,
            "os": str,
            "variant": str,
            "config_size": int,
            "labels": str,
        },
        pk="id",
        not_null={"added", "config_size"},
    )
    db.table("images").create_index(["parent"])
    db.table("image_layers").create(
        {"image_id": str, "position": int, "chain_id": str},
        pk=("image_id", "position"),
        foreign_keys=[("image_id", "images", "id"), ("chain_id", "layers", "chain_id")],
    )
    db.table("image_layers").create_index(["chain_id"])
    db.table("tags").create(
        {"repository": str, "tag": str, "image_id": str, "created": float},
        pk=("repository", "tag"),
        foreign_keys=[("image_id", "images", "id")],
    )
    db.table("tags").create_index(["image_id"])
    db.table("digests").create(
        {"repository": str, "digest": str, "image_id": str, "created": float},
        pk=("repository", "digest"),
        foreign_keys=[("image_id", "images", "id")],
    )
    db.table("digests").create_index(["image_id"])
    db.table("leases").create(
        {"id": str, "purpose": str, "pid": int, "created": float, "expires": float},
        pk="id",
    )
    db.table("lease_refs").create(
        {"lease_id": str, "kind": str, "ref": str},
        pk=("lease_id", "kind", "ref"),
        foreign_keys=[("lease_id", "leases", "id")],
    )
    db.table("lease_refs").create_index(["kind", "ref"])
    db.table("containers").create(
        {"id": str, "name": str, "image_id": str, "state": str, "created": float},
        pk="id",
        foreign_keys=[("image_id", "images", "id")],
        not_null={"name", "image_id", "state", "created"},
    )
    db.table("containers").create_index(["name"], unique=True)
    db.table("containers").create_index(["image_id"])
    db.table("trash_log").create({"path": str, "queued": float}, pk="path")


def _v2_containers(db: sqlite_utils.Database) -> None:
    """What a container needs beyond its image: lifecycle, runtime, its writable layer's size.

    size_rw/disk_rw are measured when the container stops (NULL until then, 0 for one never
    started); only running containers are measured live.
    """
    table = db.table("containers")
    for column, kind in (
        ("started_at", float),
        ("finished_at", float),
        ("exit_code", int),
        ("pid", int),
        ("driver", str),
        ("runtime", str),
        ("config", str),
        ("labels", str),
        ("size_rw", int),
        ("disk_rw", int),
    ):
        table.add_column(column, kind)
    table.create_index(["state"])


def _v3_gc(db: sqlite_utils.Database) -> None:
    """Pins (images no policy may prune) and the log of every prune run."""
    db.table("pins").create(
        {"image_id": str, "created": float},
        pk="image_id",
        foreign_keys=[("image_id", "images", "id")],
    )
    db.table("gc_runs").create(
        {
            "id": int,
            "started": float,
            "finished": float,
            "command": str,
            "policy": str,
            "dry_run": int,
            "removed": str,
            "planned_bytes": int,
            "planned_disk": int,
            "freed_bytes": int,
            "freed_disk": int,
            "fs_free_before": int,
            "fs_free_after": int,
            "errors": str,
        },
        pk="id",
    )
    db.table("gc_runs").create_index(["started"])


def _v4_registry(db: sqlite_utils.Database) -> None:
    """Which compressed registry blob holds which diff_id, and where it was seen.

    Pull records what it fetched and push what it compressed, so a later push can HEAD or
    cross-repository-mount a blob the registry already has instead of compressing the layer
    again, and a second push of the same image uploads nothing. Metadata only: no files.
    """
    db.table("layer_blobs").create(
        {"digest": str, "diff_id": str, "media_type": str, "size": int, "created": float},
        pk="digest",
        not_null={"diff_id", "media_type", "size", "created"},
    )
    db.table("layer_blobs").create_index(["diff_id"])
    db.table("blob_sources").create(
        {"digest": str, "repository": str, "seen": float},
        pk=("digest", "repository"),
        foreign_keys=[("digest", "layer_blobs", "digest")],
        not_null={"seen"},
    )


def _v5_image_sizes(db: sqlite_utils.Database) -> None:
    """Each image's Docker Size (its layers' apparent bytes), stored when it is recorded, and an
    index that holds every chain in order.

    An image and its layers never change, so the sum is taken once (rule 4) instead of joining
    every image's chain on each `images` or `inspect`; existing rows are filled in here.
    """
    db.table("images").add_column("size", int)
    # The catalog reads every chain in order: with chain_id in the index, from the index alone.
    db.execute("CREATE INDEX image_layers_chains ON image_layers (image_id, position, chain_id)")
    db.execute(
        "UPDATE images SET size = (SELECT COALESCE(SUM(l.size), 0) FROM image_layers il "
        "JOIN layers l USING (chain_id) WHERE il.image_id = images.id)"
    )


def _v6_build_cache(db: sqlite_utils.Database) -> None:
    """Which images a build made, and when: the collector's build cache is those of them nothing
    names. A row goes with its image; naming or untagging the image changes nothing here, so an
    image is build cache exactly while it is unnamed."""
    db.table("build_cache").create(
        {"image_id": str, "created": float},
        pk="image_id",
        foreign_keys=[("image_id", "images", "id")],
        not_null={"created"},
    )


def _v7_snapshots(db: sqlite_utils.Database) -> None:
    """Usage snapshots (gc/snapshots.py): the store's totals at one moment, one row per prune,
    report or cron run, so reports can show growth over time and what each prune freed."""
    columns = [
        "images_bytes",
        "containers_bytes",
        "build_cache_bytes",
        "reclaimable_bytes",
        "fs_free_bytes",
        "fs_total_bytes",
        "freed_bytes",
    ]
    db.table("snapshots").create(
        {"id": int, "taken_at": float, "reason": str, **dict.fromkeys(columns, int)},
        pk="id",
        not_null={"taken_at", "reason", *columns},
    )
    db.table("snapshots").create_index(["taken_at"])


# The tables whose rows the store's derived figures (df, the catalog) are computed from.
REFERENCE_TABLES = (
    "images",
    "image_layers",
    "layers",
    "tags",
    "digests",
    "pins",
    "build_cache",
    "containers",
    "leases",
    "lease_refs",
)


def _v8_generation(db: sqlite_utils.Database) -> None:
    """A counter that every change to a reference table moves (store/memo.py keys on it).

    Triggers, not the code that writes: every writer, present or future, in any process, moves
    it, so a figure memoized at one generation is never served after the rows under it change.
    """
    db.execute("CREATE TABLE generation (n INTEGER NOT NULL)")
    db.execute("INSERT INTO generation (n) VALUES (0)")
    for table in REFERENCE_TABLES:
        for op in ("INSERT", "UPDATE", "DELETE"):
            db.execute(
                f"CREATE TRIGGER {table}_{op.lower()}_generation AFTER {op} ON {table} "
                "BEGIN UPDATE generation SET n = n + 1; END"
            )


def _v9_lease_holders(db: sqlite_utils.Database) -> None:
    """Who holds each lease (store/leases.py: boot, pid namespace, start time), so a lease whose
    holder is gone lapses at once instead of one expiry later; older leases have none."""
    db.table("leases").add_column("holder", str)


def _v10_build_memo(db: sqlite_utils.Database) -> None:
    """What builds remember to do less the next time (store/build/memo.py): a Dockerfile's parse,
    a context file's sum, a COPY --from checksum, each with the basis it was computed from.
    No references: the collector never reads it, and losing it costs only time."""
    db.table("build_memo").create(
        {"key": str, "basis": str, "value": str, "used": float},
        pk="key",
        not_null={"basis", "value", "used"},
    )


def _v11_damaged(db: sqlite_utils.Database) -> None:
    """What `check --deep --repair` found damaged: an image's config blob (by image ID) or a
    layer (by chain ID), so the next load or pull of the same content rewrites it instead of
    keeping the stored copy. A mark goes when the object is healed, or with its row."""
    db.table("damaged").create(
        {"ref": str, "kind": str, "why": str, "found": float}, pk="ref", not_null={"kind", "why", "found"}
    )
    for table, key in (("images", "id"), ("layers", "chain_id")):
        db.execute(
            f"CREATE TRIGGER damaged_{table}_gone AFTER DELETE ON {table} "
            f"BEGIN DELETE FROM damaged WHERE ref = OLD.{key}; END"
        )


MIGRATIONS: list[Migration] = [
    _v1_core,
    _v2_containers,
    _v3_gc,
    _v4_registry,
    _v5_image_sizes,
    _v6_build_cache,
    _v7_snapshots,
    _v8_generation,
    _v9_lease_holders,
    _v10_build_memo,
    _v11_damaged,
]


def _cascade(db: Database) -> None:
    """Child rows go with their parent row: sqlite-utils cannot declare ON DELETE CASCADE."""
    for child, parent_col, parent in (
        ("image_layers", "image_id", "images"),
        ("tags", "image_id", "images"),
        ("digests", "image_id", "images"),
        ("lease_refs", "lease_id", "leases"),
        ("pins", "image_id", "images"),
        ("build_cache", "image_id", "images"),
    ):
        db.execute(
            f"CREATE TRIGGER IF NOT EXISTS {child}_cascade BEFORE DELETE ON {parent} "
            f"BEGIN DELETE FROM {child} WHERE {parent_col} = OLD.id; END"
        )


def connect(path: Path) -> Database:
    """Open (creating and migrating if needed) with WAL, foreign keys and a generous busy wait."""
    conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError:
        # On a full disk the WAL's -shm index cannot be made, and SQLite says only "disk I/O error".
        if os.statvfs(path.parent).f_bavail == 0:
            conn.close()
            raise DiskFull(
                f"the file system of the store at {path.parent} is full: free some space (`bilge image prune` can)"
            ) from None
        raise
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    db = Database(conn)
    _migrate(db)
    return db


def connect_read_only(path: Path, why: str, advice: str = "") -> Database:
    """Open a store that cannot be written (`why`: a read-only mount, or no write permission).

    A WAL database is read through its -shm index, which a reader must be able to create. Where
    the -wal holds frames (a writer is at work, or one crashed) the index must exist to be read;
    with no -wal the database file is complete, and is opened immutable: no index, no locks.
    """
    from urllib.parse import quote

    wal = path.with_name(path.name + "-wal")
    mode = "mode=ro" if wal.exists() and wal.stat().st_size else "immutable=1"
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?{mode}", uri=True, timeout=60, isolation_level=None)
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise ReadOnly(f"{why}, and its database cannot be read: {exc}") from None
    db = Database(conn, why, advice)
    if _version(db) < len(MIGRATIONS):
        raise ReadOnly(f"{why}, and its database needs migrating to this bilge's schema first")
    return db


class DiskFull(BilgeError):
    """No room left for the database to write; commands that free space release the reserve first."""


class ReadOnly(BilgeError):
    """A write (or a migration) was asked of a store that cannot be written."""


def _migrate(db: Database) -> None:
    if _version(db) >= len(MIGRATIONS):
        return
    with write(db):
        if not db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
            _create_fresh(db)
        else:
            _migrate_forward(db)
        db.execute("DELETE FROM schema_version")
        db.execute("INSERT INTO schema_version (version) VALUES (?)", [len(MIGRATIONS)])


def _migrate_forward(db: Database) -> None:
    import sqlite_utils

    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    for migration in MIGRATIONS[_version(db) :]:
        migration(sqlite_utils.Database(db.conn))
    _cascade(db)


def _create_fresh(db: Database) -> None:
    """An empty database gets the migrations' end result in one go, without importing
    sqlite-utils: that import is 0.2 s, an eighth of a first `load` of 200 MB."""
    from .fresh_schema import STATEMENTS, VERSION

    if VERSION != len(MIGRATIONS):  # a migration was added and the schema not written down again
        _migrate_forward(db)
        return
    for statement in STATEMENTS:
        db.execute(statement)


def _version(db: Database) -> int:
    try:
        row = db.execute("SELECT version FROM schema_version").fetchone()
    except sqlite3.OperationalError:
        return 0
    return row[0] if row else 0


@contextmanager
def write(db: Database) -> Iterator[Database]:
    """One IMMEDIATE transaction: writers queue up instead of failing half-way."""
    if db.read_only:
        raise db.refusal()
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


@contextmanager
def read(db: Database) -> Iterator[Database]:
    """One read transaction: every query inside sees the same state, and nothing is written."""
    db.execute("BEGIN")
    try:
        yield db
    finally:
        db.execute("COMMIT")
