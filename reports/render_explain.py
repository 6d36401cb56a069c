"""How `bilge explain` looks: the layers table (bars of size on a terminal) and the verdict
in sentences; json carries every field exactly, csv the layers."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from bilge.store.tables import human_size

from .explain import Explanation
from .present import show

COLUMNS = [
    ("chain", "LAYER"),
    ("size", "SIZE"),
    ("freed", "FREED BY RMI"),
    ("images", "ALSO IN IMAGES"),
    ("cache", "BUILD CACHE"),
    ("containers", "CONTAINERS"),
    ("held", "PINS / LEASES"),
]


def _bytes(pair: tuple[int, int]) -> str:
    return f"{human_size(pair[0], 4)} ({pair[0]} bytes; {pair[1]} on disk)"


def verdict(e: Explanation) -> list[str]:
    """What removing it frees, and what would free the rest, in words."""
    others = [n for n in e.names if n != e.name]
    also_named = f" (and untagging {', '.join(others)})" if others else ""
    lines = [f"Removing {e.name}{also_named} frees {_bytes(e.frees)}."]
    if not e.rest[0] and not e.rest[1]:
        return lines
    holders = []
    if e.also_images:
        holders.append("images " + ", ".join(e.also_images))
    if e.also_containers:
        holders.append("containers " + ", ".join(e.also_containers))
    if e.also_cache:
        holders.append(f"{e.also_cache} build cache entries")
    lines.append(f"The other {_bytes(e.rest)} stay while {'; '.join(holders) or 'pins and leases'} hold them.")
    lines.append(f"Removing those too would free {_bytes(e.frees_with_all)}.")
    if e.blocked_by:
        lines.append("Kept whatever goes, until unpinned or released: " + ", ".join(e.blocked_by) + ".")
    return lines


def render(e: Explanation, fmt: str, terminal: bool | None = None) -> str:
    if fmt == "json":
        return json.dumps(asdict(e), indent=2)
    data: list[dict[str, Any]] = [
        {
            "ChainID": layer.chain,
            "Size": layer.size,
            "Disk": layer.disk,
            "Freed": layer.freed,
            "Images": layer.images,
            "BuildCache": layer.build_cache,
            "Containers": layer.containers,
            "Pins": layer.pins,
            "Leases": layer.leases,
        }
        for layer in e.layers
    ]
    rows = [
        {
            "chain": d["ChainID"][7:19],
            "size": human_size(d["Size"], 4),
            "freed": "yes" if d["Freed"] else "no",
            "images": ", ".join(d["Images"]),
            "cache": str(d["BuildCache"]),
            "containers": ", ".join(d["Containers"]),
            "held": ", ".join([*d["Pins"], *(["lease"] if d["Leases"] else [])]),
        }
        for d in data
    ]
    table = show(rows, COLUMNS, fmt, data, bar=("Size", "SIZE"), terminal=terminal)
    if fmt == "csv":
        return table
    head = f"{e.name} ({e.image_id}): {len(e.layers)} layers"
    return "\n".join([head, "", table, "", *verdict(e)])
