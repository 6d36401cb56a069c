"""The report's plotly figures: where the bytes go (a treemap of images -> layers, each layer
once), unique against shared bytes per image, and usage over time. Imported only by the HTML
report: plotly is the heaviest thing bilge loads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go

from .document import TOP

Figure = tuple[str, str, go.Figure]


def _layout(fig: go.Figure, height: int = 480) -> go.Figure:
    fig.update_layout(height=height, margin={"t": 30, "l": 10, "r": 10, "b": 10}, template="plotly_white")
    return fig


def treemap(doc: dict[str, Any]) -> go.Figure:
    """The top images, each over the layers only it holds; the layers they share under one
    node, each once, so every area is bytes on disk once."""
    layers = {layer["ChainID"]: layer for layer in doc["layers"]}
    ids, labels, parents, values = ["all"], ["top images' layers"], [""], [0]
    shared_seen: set[str] = set()
    ids += ["shared"]
    labels += ["shared by several images"]
    parents += ["all"]
    values += [0]
    for img in doc["images"][:TOP]:
        node = "image:" + img["Id"]
        ids.append(node)
        labels.append(img["Name"] + " " + img["Id"][7:19])
        parents.append("all")
        values.append(0)
        for chain in doc["image_layers"].get(img["Id"], []):
            layer = layers.get(chain)
            if layer is None or not layer["Size"]:
                continue
            if len(layer["Images"]) > 1:
                if chain in shared_seen:
                    continue
                shared_seen.add(chain)
                parent = "shared"
                label = f"{chain[7:19]} ({len(layer['Images'])} images)"
            else:
                parent, label = node, chain[7:19]
            ids.append(f"{parent}/{chain}")
            labels.append(label)
            parents.append(parent)
            values.append(layer["Size"])
    fig = go.Figure(
        go.Treemap(ids=ids, labels=labels, parents=parents, values=values, branchvalues="remainder", maxdepth=3)
    )
    return _layout(fig, 560)


def unique_vs_shared(doc: dict[str, Any]) -> go.Figure:
    top = doc["images"][:TOP][::-1]  # largest at the top of a horizontal chart
    names = [f"{i['Name']} {i['Id'][7:19]}" for i in top]
    fig = go.Figure(
        [
            go.Bar(name="unique", y=names, x=[i["UniqueSize"] for i in top], orientation="h"),
            go.Bar(name="shared", y=names, x=[i["SharedSize"] for i in top], orientation="h"),
        ]
    )
    fig.update_layout(barmode="stack", xaxis_title="bytes")
    return _layout(fig, max(300, 28 * len(top) + 100))


def usage_over_time(doc: dict[str, Any]) -> go.Figure:
    snaps = doc["trends"]
    when = [datetime.fromtimestamp(s["taken_at"], UTC) for s in snaps]
    fig = go.Figure()
    for key, name in [
        ("images_bytes", "images"),
        ("containers_bytes", "containers"),
        ("build_cache_bytes", "build cache"),
        ("reclaimable_bytes", "reclaimable"),
    ]:
        fig.add_trace(go.Scatter(x=when, y=[s[key] for s in snaps], name=name, mode="lines+markers"))
    fig.add_trace(go.Bar(x=when, y=[s["freed_bytes"] for s in snaps], name="freed by a prune"))
    fig.update_layout(yaxis_title="bytes")
    return _layout(fig)


def host(doc: dict[str, Any]) -> list[Figure]:
    figures = [
        ("treemap", "Where the bytes go", treemap(doc)),
        ("unique-shared", "Unique and shared bytes per image", unique_vs_shared(doc)),
    ]
    if doc["trends"]:
        figures.append(("usage", "Usage over time", usage_over_time(doc)))
    return figures


def fleet(doc: dict[str, Any]) -> list[Figure]:
    hosts = [h["host"] for h in doc["hosts"]]
    totals = go.Figure(
        [
            go.Bar(name=name, x=hosts, y=[h[key] for h in doc["hosts"]])
            for key, name in [
                ("images_bytes", "images"),
                ("containers_bytes", "containers"),
                ("build_cache_bytes", "build cache"),
            ]
        ]
    )
    totals.update_layout(barmode="stack", yaxis_title="bytes")
    top = doc["images"][:TOP][::-1]
    costly = go.Figure(go.Bar(y=[i["Name"] for i in top], x=[i["UniqueSize"] for i in top], orientation="h"))
    costly.update_layout(xaxis_title="unique bytes, all hosts")
    return [
        ("hosts", "Per-host totals", _layout(totals)),
        ("fleet-images", "Images that cost most across the fleet", _layout(costly, max(300, 28 * len(top) + 100))),
    ]
