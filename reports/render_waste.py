"""How `bilge waste` looks: the verdict, then the biggest offenders (path, bytes, the layer
that wrote them and the one that overwrote or deleted them); json carries every figure."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from bilge.store.tables import human_size

from .present import show
from .waste import Waste

COLUMNS = [
    ("size", "SIZE"),
    ("how", "WASTED BY"),
    ("path", "PATH"),
    ("layer", "WRITTEN IN"),
    ("by", "REMOVED IN"),
]


def data(w: Waste, limit: int | None) -> dict[str, Any]:
    found = asdict(w)
    found["offenders"] = found["offenders"][:limit] if limit else found["offenders"]
    found["efficiency"] = w.efficiency
    return found


def _step(w: Waste, index: int) -> str:
    made = w.layers[index].created_by.replace("/bin/sh -c #(nop) ", "").replace("/bin/sh -c ", "RUN ")
    return f"{index}: {made[:40] + '…' if len(made) > 41 else made}"


def summary(w: Waste, name: str) -> str:
    return (
        f"{name}: efficiency {w.efficiency:.1%}; {human_size(w.wasted, 4)} ({w.wasted} bytes) of the "
        f"{human_size(w.written, 4)} its {len(w.layers)} layers write is overwritten or deleted by a later layer"
    )


def render(w: Waste, name: str, fmt: str, limit: int | None, terminal: bool | None = None) -> str:
    found = data(w, limit)
    if fmt == "json":
        return json.dumps(found, indent=2)
    offenders = found["offenders"]
    rows = [
        {
            "size": human_size(o["size"], 4),
            "how": o["how"],
            "path": o["path"],
            "layer": _step(w, o["layer"]),
            "by": _step(w, o["by"]),
        }
        for o in offenders
    ]
    table = show(rows, COLUMNS, fmt, offenders, bar=("size", "SHARE"), terminal=terminal)
    return table if fmt == "csv" else "\n".join([summary(w, name), "", table])
