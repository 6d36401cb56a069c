"""What builds remember between runs, so that a build that is all cache does little more than
look its steps up: a Dockerfile's parse, the sums of context files, the checksum of a
`COPY --from` of an image, and each step's child (the image the cache would find, without
reading every child's config).

None of it is a reference (the collector never reads it) and each value is only ever used for
the basis it was computed from: a parse for the same text and the same parser
(dockerfile.parser_stamp), a context file's sum for the same stat (context.py: a write changes
the file's ctime, which cannot be set back, so a changed file is hashed again, as Docker hashes
every file every time), a `COPY --from` checksum for the same image and sources (an image's
files never change), a step's child for the same parent and cache.signature, used only while
that image is still there as the parent's child (each commit of a step replaces it, so it is
the newest, as the classic cache picks). Rows live in the store's database (`build_memo`); one
not written for EXPIRES seconds goes the next time a build writes.
"""

from __future__ import annotations

import time

from ..db import Database, write

EXPIRES = 30 * 24 * 3600


class Memo:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._known: dict[str, tuple[str, str]] = {}
        self._ranges: set[str] = set()
        self._new: dict[str, tuple[str, str]] = {}

    def get(self, key: str, basis: str) -> str | None:
        """The value remembered for `key`, if it was computed from `basis`."""
        found = self._new.get(key) or self._known.get(key)
        if found is None and not any(key.startswith(prefix) for prefix in self._ranges):
            row = self.db.execute("SELECT basis, value FROM build_memo WHERE key = ?", [key]).fetchone()
            found = (row[0], row[1]) if row else None
            if found:
                self._known[key] = found
        return found[1] if found and found[0] == basis else None

    def put(self, key: str, basis: str, value: str) -> None:
        """Remember `value`, computed from `basis`; written by `save`."""
        self._new[key] = (basis, value)

    def preload(self, prefix: str) -> None:
        """Read every row whose key starts with `prefix` in one query (a context's files)."""
        if prefix in self._ranges:
            return
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        for key, basis, value in self.db.execute(
            "SELECT key, basis, value FROM build_memo WHERE key >= ? AND key < ?", [prefix, upper]
        ):
            self._known[key] = (basis, value)
        self._ranges.add(prefix)

    def save(self) -> None:
        """Write what was learnt (nothing when all was known), and forget what went unused."""
        if not self._new:
            return
        now = time.time()
        with write(self.db):
            self.db.conn.executemany(
                "INSERT OR REPLACE INTO build_memo (key, basis, value, used) VALUES (?, ?, ?, ?)",
                [(key, basis, value, now) for key, (basis, value) in self._new.items()],
            )
            self.db.execute("DELETE FROM build_memo WHERE used < ?", [now - EXPIRES])
        self._known.update(self._new)
        self._new.clear()

    def files(self, root: str) -> FileSums:
        """The sums of the files under the context directory `root` (an absolute path)."""
        self.preload(f"file:{root.rstrip('/')}/")
        return FileSums(self)


class FileSums:
    """context.Sums over a Memo: a file's key is `file:` and its absolute path."""

    def __init__(self, memo: Memo) -> None:
        self.memo = memo

    def get(self, path: str, basis: str) -> str | None:
        return self.memo.get("file:" + path, basis)

    def put(self, path: str, basis: str, value: str) -> None:
        self.memo.put("file:" + path, basis, value)
