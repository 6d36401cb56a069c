"""Deleting directories safely across crashes (design rule 3).

Callers delete rows and `queue` their directories in one transaction; `finish` then moves
each queued directory into trash/ and deletes it. Any command that starts with a non-empty
log or trash/ finishes the job, so a crash at any step leaves nothing referenced lost and
nothing unreferenced behind for long.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterable


from .db import Database, write
from .paths import Layout


class Trash:
    def __init__(self, layout: Layout, db: Database) -> None:
        self.layout = layout
        self.db = db

    def queue(self, paths: Iterable[str]) -> None:
        """Inside the caller's write transaction: these store-relative paths are garbage."""
        now = time.time()
        for path in paths:
            self.db.execute("INSERT OR REPLACE INTO trash_log (path, queued) VALUES (?, ?)", [path, now])

    def claim(self, path: str) -> None:
        """Inside a write transaction, move a leftover at `path` aside so new content can take it."""
        target = self.layout.root / path
        if os.path.lexists(target):
            os.rename(target, self.layout.trash / uuid.uuid4().hex)
        self.keep(path)

    def keep(self, path: str) -> None:
        """Inside a write transaction, take `path` off the log: it is referenced again."""
        self.db.execute("DELETE FROM trash_log WHERE path = ?", [path])

    def finish(self) -> int:
        """Move every queued directory into trash/, then delete all of trash/. Returns entries removed."""
        if self.db.execute("SELECT 1 FROM trash_log LIMIT 1").fetchone():
            with write(self.db):
                for (path,) in self.db.execute("SELECT path FROM trash_log").fetchall():
                    self.claim(path)
        mine = []
        for entry in list(os.scandir(self.layout.trash)):
            claimed = self.layout.trash / f".del-{uuid.uuid4().hex}"
            try:
                os.rename(entry.path, claimed)
            except FileNotFoundError:
                continue  # another process is deleting it
            mine.append(str(claimed))
        remove_trees(mine)
        return len(mine)


def remove_trees(paths: list[str]) -> None:
    """Delete with rm(1), in as few processes as the argument limit allows: it is as fast as
    deletion gets, and the prune benchmark holds us to `rm -rf` itself."""
    batch = 2000
    for start in range(0, len(paths), batch):
        subprocess.run(["rm", "-rf", "--", *paths[start : start + batch]], check=True)
