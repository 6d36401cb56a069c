"""Marks on stored content that failed its digest: `check --deep --repair` fetches nothing, so
it marks what it found, and the next load or pull of the same content heals it (the blob is
rewritten, the layer extracted again) instead of trusting the copy it already has."""

from __future__ import annotations

import time

from .db import Database


def mark(db: Database, kind: str, ref: str, why: str) -> None:
    """`kind` is "config" (`ref` an image ID) or "layer" (`ref` a chain ID)."""
    db.execute(
        "INSERT OR REPLACE INTO damaged (ref, kind, why, found) VALUES (?, ?, ?, ?)", [ref, kind, why, time.time()]
    )


def unmark(db: Database, ref: str) -> None:
    db.execute("DELETE FROM damaged WHERE ref = ?", [ref])


def is_marked(db: Database, ref: str) -> bool:
    return db.execute("SELECT 1 FROM damaged WHERE ref = ?", [ref]).fetchone() is not None


def marks(db: Database) -> list[tuple[str, str, str]]:
    """(kind, ref, why) of every mark, in a stable order."""
    return db.execute("SELECT kind, ref, why FROM damaged ORDER BY kind, ref").fetchall()
