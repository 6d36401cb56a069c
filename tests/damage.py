"""Damage a stored layer the way bit rot would: same size, other bytes."""

from __future__ import annotations

import json
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
