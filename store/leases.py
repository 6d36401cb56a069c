"""Leases: work in progress (a load, pull, build or commit) pins what it has made so far.

A lease lives in the database with an expiry, so a crashed process cannot pin anything
forever; the garbage collector treats live leases' references as roots.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from .db import Database

DEFAULT_TTL = 6 * 3600


class Lease:
    def __init__(self, db: Database, lease_id: str) -> None:
        self.db = db
        self.id = lease_id

    def add(self, kind: str, ref: str) -> None:
        """Record a reference; call inside the write transaction that made or found `ref`."""
        self.db.execute(
            "INSERT OR IGNORE INTO lease_refs (lease_id, kind, ref) VALUES (?, ?, ?)", [self.id, kind, ref]
        )


@contextmanager
def lease(db: Database, purpose: str, ttl: float = DEFAULT_TTL) -> Iterator[Lease]:
    lease_id = uuid.uuid4().hex
    now = time.time()
    db.execute(
        "INSERT INTO leases (id, purpose, pid, created, expires) VALUES (?, ?, ?, ?, ?)",
        [lease_id, purpose, os.getpid(), now, now + ttl],
    )
    try:
        yield Lease(db, lease_id)
    finally:
        db.execute("DELETE FROM leases WHERE id = ?", [lease_id])
