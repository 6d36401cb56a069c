"""`bilge report`: one document of where the space goes — system df's totals, the top images
and layers, what each standard prune would free, the waste in the top images, and the trend
of the usage snapshots — as self-contained HTML, Markdown, JSON (every number, with a schema
version) or CSV; and `--merge`, the fleet view of many hosts' JSON reports.

The figures are the other reports' (df, top, what-if, waste, snapshots), computed from one
load of the graph; nothing here counts bytes of its own.
"""

from __future__ import annotations

import socket
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bilge.gc.graph import Graph
from bilge.gc.prune import settle_containers
from bilge.gc.snapshots import load_snapshots
from bilge.store.core import Store
from bilge.store.errors import BilgeError, InvalidInput
from bilge.store.fsutil import atomic_write

from .df import summary, system_df
from .render_top import image_data, layer_data
from .top import top_images, top_layers
from .waste import analyse
from .whatif import what_if

SCHEMA_VERSION = 1
FORMATS = ("html", "md", "json", "csv")
TOP = 20  # images and layers listed in the tables and charts (json carries every image)
WASTE_OF = 5  # the top images whose waste is analysed


def collect(store: Store) -> dict[str, Any]:
    """Every figure of the report, as the JSON format carries it."""
    settle_containers(store)
    graph = Graph.load(store.db)
    df = system_df(store)
    ranks = top_images(graph)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "host",
        "host": socket.gethostname(),
        "root": str(store.layout.root),
        "generated_at": time.time(),
        "totals": summary(df),
        "totals_disk": summary(df, disk=True),
        "layers_size": df["LayersSize"],
        "images": image_data(ranks),
        "image_layers": {r.image.id: r.image.chain for r in ranks[:TOP]},
        "layers": layer_data(top_layers(graph)),
        "what_if": [asdict(s) for s in what_if(store, graph)],
        "waste": [_waste(store, r.image.id, r.name) for r in ranks[:WASTE_OF]],
        "trends": [asdict(s) for s in load_snapshots(store)],
    }


def _waste(store: Store, image_id: str, name: str) -> dict[str, Any]:
    from .render_waste import data

    try:
        found = data(analyse(store, image_id), 10)
    except (BilgeError, OSError) as exc:  # a layer without its tar-split (a damaged store): say so
        return {"image_id": image_id, "name": name, "error": str(exc)}
    return {"name": name, **found}


def merge(paths: list[Path]) -> dict[str, Any]:
    """The fleet view: per-host totals, and the images that cost most across hosts (an image's
    unique bytes added up over the hosts holding it)."""
    import json

    hosts: list[dict[str, Any]] = []
    images: dict[str, dict[str, Any]] = {}
    for path in paths:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"{path}: not a bilge JSON report ({exc})") from None
        if not isinstance(doc, dict) or doc.get("kind") != "host" or doc.get("schema_version") != SCHEMA_VERSION:
            raise InvalidInput(f"{path}: not a bilge JSON report of schema version {SCHEMA_VERSION}")
        totals = {row["Type"]: row for row in doc["totals"]}
        reclaim = {s["command"]: s["bytes"] for s in doc["what_if"]}
        hosts.append(
            {
                "host": doc["host"],
                "generated_at": doc["generated_at"],
                "images": totals["Images"]["TotalCount"],
                "images_bytes": totals["Images"]["Size"],
                "containers_bytes": totals["Containers"]["Size"],
                "build_cache_bytes": totals["Build Cache"]["Size"],
                "reclaimable_bytes": reclaim.get("bilge system prune -a", 0),
            }
        )
        for img in doc["images"]:
            entry = images.setdefault(
                img["Id"], {"Id": img["Id"], "Name": img["Name"], "Hosts": [], "UniqueSize": 0, "Size": img["Size"]}
            )
            entry["Hosts"].append(doc["host"])
            entry["UniqueSize"] += img["UniqueSize"]
    ranked = sorted(images.values(), key=lambda i: (-i["UniqueSize"], i["Name"], i["Id"]))
    return {"schema_version": SCHEMA_VERSION, "kind": "fleet", "hosts": hosts, "images": ranked}


def render(doc: dict[str, Any], fmt: str) -> str:
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown report format {fmt!r} (choose from {', '.join(FORMATS)})")
    if fmt == "json":
        import json

        return json.dumps(doc, indent=2)
    from . import render_report

    return {"md": render_report.markdown, "csv": render_report.csv_rows, "html": render_report.html}[fmt](doc)


def write(doc: dict[str, Any], path: Path, fmt: str) -> None:
    """Written atomically: a temporary file in the same directory, then a rename."""
    atomic_write(path, render(doc, fmt).encode(), path.parent)


def write_report(store: Store, path: Path, fmt: str) -> None:
    write(collect(store), Path(path).absolute(), fmt)
