"""Which registry blobs hold which diff_id (schema v4), so push can reuse what a registry has.

Only verified facts are recorded: a blob pull downloaded and found to extract to the diff_id,
or a blob push compressed from the layer itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..db import Database


@dataclass
class KnownBlob:
    digest: str
    media_type: str
    size: int
    repositories: list[str] = field(default_factory=list)


def remember(db: Database, digest: str, diff_id: str, media_type: str, size: int, repository: str) -> None:
    """Record a blob and a repository that has it; call inside a write transaction."""
    now = time.time()
    db.execute(
        "INSERT OR IGNORE INTO layer_blobs (digest, diff_id, media_type, size, created) VALUES (?, ?, ?, ?, ?)",
        [digest, diff_id, media_type, size, now],
    )
    db.execute(
        "INSERT OR REPLACE INTO blob_sources (digest, repository, seen) VALUES (?, ?, ?)", [digest, repository, now]
    )


def blobs_for(db: Database, diff_id: str) -> list[KnownBlob]:
    """Known blobs of a diff_id, each with the repositories seen holding it, latest first."""
    found: dict[str, KnownBlob] = {}
    for row in db.query(
        "SELECT b.digest, b.media_type, b.size, s.repository FROM layer_blobs b "
        "LEFT JOIN blob_sources s USING (digest) WHERE b.diff_id = ? ORDER BY s.seen DESC",
        [diff_id],
    ):
        blob = found.setdefault(row["digest"], KnownBlob(row["digest"], row["media_type"], row["size"]))
        if row["repository"]:
            blob.repositories.append(row["repository"])
    return list(found.values())
