"""Damage the store the way bit rot or a crash would: same size and other bytes, a file cut
short, a file gone."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path


def flip_a_byte_in_top_layer(bilge: Callable, image: str) -> Path:
    """Flip one byte of a file in `image`'s top layer; only a digest check can notice."""
    upper = Path(json.loads(bilge("inspect", image).stdout)[0]["GraphDriver"]["Data"]["UpperDir"])
    victim = next(p for p in upper.rglob("*") if p.is_file() and not p.is_symlink() and p.stat().st_size > 100)
    with open(victim, "r+b") as f:
        f.seek(10)
        byte = f.read(1)
        f.seek(10)
        f.write(bytes([byte[0] ^ 0xFF]))
    return victim


def layer_paths(root: Path, diff_id: str) -> tuple[Path, Path]:
    """(diff/ directory, tar-split blob) of the stored layer with this diff_id."""
    import sqlite3

    with sqlite3.connect(root / "bilge.db") as db:
        directory, tarsplit = db.execute("SELECT dir, tarsplit FROM layers WHERE diff_id = ?", [diff_id]).fetchone()
    return root / "layers" / directory / "diff", root / "blobs" / "sha256" / tarsplit.removeprefix("sha256:")


def truncate(path: Path) -> None:
    """Cut a file to half its size: what a crash between write and fsync can leave."""
    os.truncate(path, path.stat().st_size // 2)
