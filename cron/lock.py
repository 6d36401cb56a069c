"""The run lock: one scheduled prune at a time per store.

flock(2) on <root>/cron/run.lock, never waited for: a run that finds it held exits at once
(cron would otherwise pile up runs behind a slow one). The kernel drops the lock when its
holder dies, so a killed run never leaves a stale lock behind; the holder's pid is written
into the file only to say who holds it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bilge.store.errors import BilgeError


class LockHeld(BilgeError):
    """Another run holds the lock (exit 2, as cron's MAILTO reader should tell it from a failure)."""

    exit_code = 2


def lock_path(root: Path) -> Path:
    return root / "cron" / "run.lock"


@contextmanager
def run_lock(root: Path) -> Iterator[None]:
    """Hold the store's run lock for the block, or raise LockHeld naming the holder."""
    path = lock_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise LockHeld(f"another bilge cron run (pid {holder}) holds {path}; this run exits") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
