"""The reserve: room kept for the database, so that a prune can run on a full file system.

SQLite writes before it frees anything: opening a WAL database writes its -shm index, and a
delete writes its pages to the WAL before they reach the database. On a 100% full file system
both fail (`database or disk is full`), and a prune, which cron runs exactly when the disk is
full, could never free a byte. So the store keeps a file of about the database's size (every
page a prune could touch, once) plus a MiB, made while there is room; a command that frees space
releases it before it opens the database and makes it again once it has freed.
"""

from __future__ import annotations

import os
from pathlib import Path

MIB = 1 << 20


def wanted_size(db: Path) -> int:
    """The database rounded up to a MiB, plus one: it grows in MiB steps, not with every page."""
    try:
        size = os.stat(db).st_size
    except FileNotFoundError:
        size = 0
    return (size // MIB + 2) * MIB


def keep(reserve: Path, db: Path) -> None:
    """Make (or grow) the reserve to its wanted size; where there is no room, leave it as it was:
    the reserve must never be what fills the disk."""
    wanted = wanted_size(db)
    try:
        have = os.stat(reserve).st_size
    except FileNotFoundError:
        have = -1
    if have >= wanted:
        return
    try:
        fd = os.open(reserve, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return  # a read-only store, or no inode left
    try:
        os.posix_fallocate(fd, 0, wanted)
    except OSError:
        if have < 0:
            os.unlink(reserve)
        else:
            os.ftruncate(fd, have)
    finally:
        os.close(fd)


def release(reserve: Path) -> None:
    try:
        os.unlink(reserve)
    except FileNotFoundError:
        pass
