"""Deleting directories safely across crashes (rule 3).

Callers delete rows and `queue` their directories in one transaction; `finish` then moves
each queued directory into trash/ and deletes it. Any command that starts with a non-empty
log or trash/ finishes the job, so a crash at any step leaves nothing referenced lost and
nothing unreferenced behind for long.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterable
from pathlib import Path

from .db import Database, write
from .paths import Layout


class Trash:
    def __init__(self, layout: Layout, db: Database) -> None:
        self.layout = layout
        self.db = db

    def queue(self, paths: Iterable[str]) -> None:
        """Inside the caller's write transaction: these store-relative paths are garbage."""
        now = time.time()
        self.db.conn.executemany(
            "INSERT OR REPLACE INTO trash_log (path, queued) VALUES (?, ?)", [(path, now) for path in paths]
        )

    def claim(self, path: str) -> None:
        """Inside a write transaction, move a leftover at `path` aside so new content can take it."""
        target = self.layout.root / path
        if os.path.lexists(target):
            os.rename(target, self.layout.trash / os.urandom(16).hex())
        self.keep(path)

    def keep(self, path: str) -> None:
        """Inside a write transaction, take `path` off the log: it is referenced again."""
        self.db.execute("DELETE FROM trash_log WHERE path = ?", [path])

    def finish(self) -> int:
        """Delete everything queued and whatever trash/ holds. Returns the number of entries removed.

        Under the write lock (so no writer can be re-creating the same path), queued files are
        unlinked and queued directories renamed into trash/ under a name carrying our pid;
        the slow part, deleting those trees, runs after the lock is released.
        """
        mine: list[str] = []
        if self.db.execute("SELECT 1 FROM trash_log LIMIT 1").fetchone():
            with write(self.db):
                queued = [path for (path,) in self.db.execute("SELECT path FROM trash_log")]
                found = _in_inode_order(self.layout.root, queued)
                mine += [self._claim_into_trash(target) for target, is_dir in found if is_dir]
                _unlink_all([target for target, is_dir in found if not is_dir])
                self.db.execute(
                    "DELETE FROM trash_log WHERE path IN (SELECT value FROM json_each(?))", [json.dumps(queued)]
                )
        claimed = {os.path.basename(path) for path in mine}
        for entry in list(os.scandir(self.layout.trash)):
            if entry.name not in claimed and not _owned_by_live_process(entry.name):
                try:
                    mine.append(self._claim_into_trash(entry.path))
                except FileNotFoundError:
                    continue  # another process took it first
        remove_trees(mine)
        return len(mine)

    def _claim_into_trash(self, path: str) -> str:
        claimed = f"{self.layout.trash}/.del-{os.getpid()}-{os.urandom(16).hex()}"
        os.rename(path, claimed)
        return claimed


DELETERS = 32
"""Deletions kept outstanding at once. Deleting is waiting, not computing: on a cold store each
unlink waits for its inode to be read, and on a file system mounted with `discard` (as this
machine's is) for the discard of each block it frees, in the deleting process. One
deleter, as `rm -rf`, waits for each in turn; the disk serves many at once. Measured on a
10,000-image prune (caches dropped, tests/benchmarks/test_scale_bench.py): 4 deleters 43-66 s,
16 26-39 s, 32 18-23 s."""


def spread(items: list[str], at_least: int, at_most: int) -> list[list[str]]:
    """`items` in consecutive chunks, one per deleter, each of `at_least` to `at_most` items (a
    deleter costs a thread or a process: a handful of items is not worth several)."""
    step = max(1, min(at_most, max(at_least, -(-len(items) // DELETERS))))
    return [items[i : i + step] for i in range(0, len(items), step)]


def _unlink_all(paths: list[str]) -> None:
    """Unlink in threads (the GIL is released while each waits on the disk)."""
    chunks = spread(paths, 64, len(paths))
    if len(chunks) <= 1:
        _unlink_chunk(paths)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(chunks)) as pool:
        list(pool.map(_unlink_chunk, chunks))  # a failure in any chunk is raised here


def _unlink_chunk(paths: list[str]) -> None:
    for path in paths:
        os.unlink(path)


SCAN_AT = 32  # queued entries of one directory from which reading the whole directory is cheaper


def _in_inode_order(root: Path, paths: list[str]) -> list[tuple[str, bool]]:
    """The queued paths that exist, with whether each is a directory, in inode order.

    After a prune the inodes are cold, and each must be read to be unlinked or moved. Visited
    in name order (hashes) every one is a random read; in inode order neighbours share the
    inode-table block the disk just read, which is how `rm -rf` keeps its pace. Where many
    entries of one directory are queued, one scandir yields their inode numbers and types from
    the directory itself, without a stat each. Plain strings, not Paths: at 10,000 images
    building 100,000 Path objects cost as much CPU as the sweep's SQL (cProfile).
    """
    by_parent: dict[str, list[str]] = {}
    for path in paths:
        parent, _, name = os.path.join(root, path).rpartition("/")
        by_parent.setdefault(parent, []).append(name)
    found: list[tuple[int, str, bool]] = []
    for parent, names in by_parent.items():
        if len(names) >= SCAN_AT:
            wanted = set(names)
            try:
                entries = [e for e in os.scandir(parent) if e.name in wanted]
            except FileNotFoundError:
                continue
            found += [(e.inode(), e.path, e.is_dir(follow_symlinks=False)) for e in entries]
            continue
        for name in names:
            target = f"{parent}/{name}"
            try:
                st = os.lstat(target)
            except FileNotFoundError:
                continue
            found.append((st.st_ino, target, stat.S_ISDIR(st.st_mode)))
    found.sort(key=lambda item: item[0])
    return [(path, is_dir) for _, path, is_dir in found]


def _owned_by_live_process(name: str) -> bool:
    """`.del-<pid>-…` is being deleted by <pid> unless that process is gone."""
    if not name.startswith(".del-"):
        return False
    try:
        pid = int(name.split("-")[1])
        if pid == os.getpid():
            return False  # ours from an earlier attempt in this process: nobody is deleting it now
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


RM_BATCH = 2000  # paths per rm, well inside the kernel's argument limit


def remove_trees(paths: list[str]) -> None:
    """Delete with rm(1), up to DELETERS processes at once, each given its share of the trees.

    rm dies with us (PR_SET_PDEATHSIG), so a killed prune leaves its claimed entries for the
    next command instead of an orphan still deleting them.
    """
    if not paths:
        return
    import subprocess

    from .forks import die_with_parent

    die = die_with_parent()
    running: list[subprocess.Popen] = []
    for batch in spread(paths, 1, RM_BATCH):
        if len(running) == DELETERS:
            running.pop(0).wait()
        running.append(subprocess.Popen(["rm", "-rf", "--", *batch], preexec_fn=die, stderr=subprocess.DEVNULL))
    for proc in running:
        proc.wait()
    left = [p for p in paths if os.path.lexists(p)]
    if left:
        raise OSError(f"could not delete {len(left)} trash entries (is something mounted inside?), e.g. {left[0]}")
