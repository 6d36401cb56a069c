"""Figures derived from the whole store, kept between commands while nothing under them changed.

`system df -v` derives the same per-image figures from the same rows on every run: at 100,000
images that is seconds of Python, where reading back what the last run derived takes a tenth
of that. Docker's daemon keeps its equivalent in memory; a command-line tool keeps it in a file.

A memo is valid for exactly one generation of the database (db v7: triggers move the counter
on every change to a reference table, whoever writes) plus whatever else its producer names in
its key (live leases, which expire with the clock and no write). It is computed inside one read
transaction that also reads the generation, so what is stored is one consistent state under
that state's number. It is only a cache: a missing, unreadable, mismatched or unwritable memo
means compute, never an error.
"""

from __future__ import annotations

import marshal
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from .core import Store
from .db import read

T = TypeVar("T")

# marshal's format belongs to one Python.
_FORMAT = f"{sys.version_info[0]}.{sys.version_info[1]}/{marshal.version}"


def generation(store: Store) -> int:
    return store.db.execute("SELECT n FROM generation").fetchone()[0]


def memo(store: Store, name: str, key: str, compute: Callable[[], T]) -> T:
    """`compute()`'s value as of now: read back if memoized at this generation and `key`.

    The value must be marshal-able (dicts, lists, tuples, strings, numbers, None)."""
    path = store.layout.cache / f"{name}.marshal"
    with read(store.db):
        stamp = f"{_producer(compute)}/{_FORMAT}/{generation(store)}/{key}"
        found = _read(path)
        if found is not None and found[0] == stamp:
            return cast(T, found[1])
        value = compute()
    _write(path, (stamp, value))
    return value


def _producer(compute: Callable[[], object]) -> str:
    """The bilge version and the producer's source file's mtime: a memo made by other code (an
    upgrade, or an edit in a development checkout) is never read as if this code had made it."""
    from bilge import __version__

    code = getattr(compute, "__code__", None)
    source = code.co_filename if code else repr(compute)
    try:
        return f"{__version__}/{os.stat(source).st_mtime_ns}"
    except OSError:
        return f"{__version__}/{source}"


def _read(path: Path) -> tuple[str, object] | None:
    try:
        found = marshal.loads(path.read_bytes())  # marshal.load(f) reads in small pieces: 7x slower
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return found if isinstance(found, tuple) and len(found) == 2 else None


def _write(path: Path, value: Any) -> None:
    """Atomically, so a reader sees the old memo or the new one; a read-only store keeps none."""
    import tempfile  # only when the store changed since the last run

    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            marshal.dump(value, f)
        os.replace(temp, path)
    except OSError:
        os.unlink(temp)
