"""Leases: work in progress (a load, pull, build or commit) pins what it has made so far.

A lease lives in the database with an expiry, so a crashed process cannot pin anything
forever; the garbage collector treats live leases' references as roots. While its holder
works, a thread pushes the expiry forward, so work longer than the expiry (a slow pull)
keeps its roots and its ingest/ scratch. A holder that dies stops renewing; its lease lapses
as soon as the next command sees the holder is gone (its pid dead or reused), else one expiry
later.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .db import Database
from .errors import BilgeError, InvalidInput

TYPE_CHECKING = False  # mypy takes this as True
if TYPE_CHECKING:
    import threading

DEFAULT_TTL = 6 * 3600


class LeaseLost(BilgeError):
    """The lease lapsed (its holder was stalled past the expiry) and a check or prune dropped it."""


class Lease:
    """`started`: when the work began; every image it brings in counts as added then, so the
    images of one load tie on the LRU clock (and their age decides), not on load order."""

    def __init__(self, db: Database, lease_id: str, purpose: str, started: float) -> None:
        self.db = db
        self.id = lease_id
        self.purpose = purpose
        self.started = started

    def add(self, kind: str, ref: str) -> None:
        """Record a reference; call inside the write transaction that makes or finds `ref`, before
        making it: once the lease is gone, what it was protecting may be gone too."""
        if (
            self.db.execute("SELECT 1 FROM leases WHERE id = ? AND expires > ?", [self.id, time.time()]).fetchone()
            is None
        ):
            raise LeaseLost(
                f"this {self.purpose} was stalled past its lease (BILGE_LEASE_TTL) and a check or prune "
                "may have taken its work: nothing more was committed; run it again"
            )
        self.db.execute("INSERT OR IGNORE INTO lease_refs (lease_id, kind, ref) VALUES (?, ?, ?)", [self.id, kind, ref])


def default_ttl() -> float:
    """$BILGE_LEASE_TTL seconds, else six hours."""
    text = os.environ.get("BILGE_LEASE_TTL")
    try:
        ttl = float(text) if text else DEFAULT_TTL
    except ValueError:
        ttl = 0
    if not ttl > 0:
        raise InvalidInput(f"BILGE_LEASE_TTL={text!r}: give the lease expiry in seconds, above zero")
    return ttl


def _renew(path: Path, lease_id: str, ttl: float, done: threading.Event) -> None:
    """The renewer thread: every third of the expiry, moves it forward again, through a
    connection of its own, until `done`."""
    conn: sqlite3.Connection | None = None
    try:
        while not done.wait(ttl / 3):
            try:
                conn = conn or sqlite3.connect(path, timeout=ttl / 3, isolation_level=None)
                renewed = conn.execute(
                    "UPDATE leases SET expires = ? WHERE id = ? AND expires > ?",
                    [time.time() + ttl, lease_id, time.time()],
                ).rowcount
                if not renewed:
                    return  # lapsed: renewing now would revive protection that already failed
            except sqlite3.Error:
                pass  # a busy database: the next round tries again, well before the expiry
    finally:
        if conn is not None:
            conn.close()


@contextmanager
def lease(db: Database, path: Path, purpose: str, ttl: float | None = None) -> Iterator[Lease]:
    """A lease on the store whose database is at `path`, renewed until the block ends."""
    ttl = ttl or default_ttl()
    lease_id = os.urandom(16).hex()
    now = time.time()
    db.execute(
        "INSERT INTO leases (id, purpose, pid, holder, created, expires) VALUES (?, ?, ?, ?, ?, ?)",
        [lease_id, purpose, os.getpid(), holder(os.getpid()), now, now + ttl],
    )
    import threading  # only work under a lease renews it (a build that is all cache holds none)

    done = threading.Event()
    renewer = threading.Thread(target=_renew, args=(path, lease_id, ttl, done), name="bilge-lease", daemon=True)
    renewer.start()
    try:
        yield Lease(db, lease_id, purpose, now)
    finally:
        done.set()
        renewer.join()
        db.execute("DELETE FROM leases WHERE id = ?", [lease_id])


def holder(pid: int) -> str | None:
    """A process as a lease records it: the boot, its pid namespace and its start time. With the
    pid they name one process for good, where a pid alone is reused once its holder is gone."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        namespace = os.readlink("/proc/self/ns/pid")
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()  # after the command name, which may hold spaces
    except OSError:
        return None
    if fields[0] in (b"Z", b"X"):
        return None  # dead, not yet reaped: it holds nothing
    return f"{boot} {namespace} {int(fields[19])}"  # field 22 of stat(5): starttime


def holder_gone(pid: int, recorded: str | None) -> bool:
    """Whether the process that took a lease is gone; False where that cannot be told (a lease
    from before holders were recorded, or from another pid namespace): its expiry decides."""
    mine = holder(os.getpid())
    if not recorded or mine is None:
        return False
    boot, namespace, _ = recorded.split(" ")
    here_boot, here_namespace, _ = mine.split(" ")
    if boot != here_boot:
        return True  # taken before the last reboot
    if namespace != here_namespace:
        return False
    return holder(pid) != recorded


def lapse_dead(db: Database) -> None:
    """A lease whose holder died (a crashed or killed command) lapses now, not six hours later:
    what it pinned is reclaimable at once, and `check` reports what it held."""
    now = time.time()
    rows = db.execute("SELECT id, pid, holder FROM leases WHERE expires > ?", [now]).fetchall()
    dead = [lease_id for lease_id, pid, recorded in rows if holder_gone(pid, recorded)]
    if dead:
        db.execute(
            "UPDATE leases SET expires = ? WHERE id IN (SELECT value FROM json_each(?))", [now, json.dumps(dead)]
        )
