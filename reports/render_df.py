"""How `system df` looks: Docker's tables (human units as Docker rounds them) or exact data."""

from __future__ import annotations

import json
import time
from typing import Any

from bilge.store.tables import ago, human_size, render_columns
from bilge.store.tables import render as render_rows
from bilge.store.timeutil import parse_rfc3339

from .df import summary


def _reclaimable(row: dict[str, Any]) -> str:
    """Docker's RECLAIMABLE: a share of the row's size, except the build cache's, which it prints bare."""
    part, total = row["Reclaimable"], row["Size"]
    return human_size(part, 4) if row["Type"] == "Build Cache" else _pct(part, total)


def _pct(part: int, total: int) -> str:
    text = human_size(part, 4)
    return f"{text} ({part * 100 // total}%)" if total > 0 else text


def render(df: dict[str, Any], verbose: bool, disk: bool, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(df if verbose else summary(df, disk), indent=2)
    if not verbose:
        rows = summary(df, disk)
        table = [
            {
                "type": r["Type"],
                "total": r["TotalCount"],
                "active": r["Active"],
                "size": human_size(r["Size"], 4),
                "reclaimable": _reclaimable(r),
                "frees": human_size(r["PruneFrees"], 4),
            }
            for r in rows
        ]
        columns = [
            ("type", "TYPE"),
            ("total", "TOTAL"),
            ("active", "ACTIVE"),
            ("size", "SIZE"),
            ("reclaimable", "RECLAIMABLE"),
            ("frees", "PRUNE -A FREES"),
        ]
        return render_rows(table, columns, fmt, rows)
    return "\n\n".join(
        [
            "Images space usage:",
            _images(df, disk, fmt),
            "Containers space usage:",
            _containers(df, disk, fmt),
            "Local Volumes space usage:",
            render_rows([], [("name", "VOLUME NAME"), ("links", "LINKS"), ("size", "SIZE")], fmt),
            *_build_cache(df, disk, fmt),
        ]
    )


def _build_cache(df: dict[str, Any], disk: bool, fmt: str) -> list[str]:
    """Docker's "Build cache usage:" line, and its table of entries when there are any (an
    entry in use marked `*`)."""
    size = df.get("BuilderDisk" if disk else "BuilderSize", 0)
    if not df["BuildCache"]:
        return [f"Build cache usage: {human_size(size, 4)}"]
    rows = [
        {
            "id": e["ID"][7:19] + ("*" if e["InUse"] else ""),
            "type": e["Type"],
            "size": human_size(e["Disk"] if disk else e["Size"]),
            "created": ago(parse_rfc3339(e["CreatedAt"])),
            "used": ago(parse_rfc3339(e["LastUsedAt"])) if e["LastUsedAt"] else "",
            "usage": str(e["UsageCount"]),
            "shared": "true" if e["Shared"] else "false",
        }
        for e in df["BuildCache"]
    ]
    columns = [
        ("id", "CACHE ID"),
        ("type", "CACHE TYPE"),
        ("size", "SIZE"),
        ("created", "CREATED"),
        ("used", "LAST USED"),
        ("usage", "USAGE"),
        ("shared", "SHARED"),
    ]
    return [f"Build cache usage: {human_size(size, 4)}", render_rows(rows, columns, fmt)]


def _images(df: dict[str, Any], disk: bool, fmt: str) -> str:
    """Built column by column (render_columns): at 100,000 images a dict per row was a third of
    `df -v`. One row per image under its first name, as Docker's `df -v` shows them, so the
    FAIR SHARE column adds up to the total."""
    size_key, shared_key = ("Disk", "SharedDisk") if disk else ("Size", "SharedSize")
    images = df["Images"]
    now = time.time()
    names = [(img["RepoTags"] or ["<none>:<none>"])[0].rpartition(":") for img in images]
    columns = {
        ("repo", "REPOSITORY"): [repo for repo, _, _ in names],
        ("tag", "TAG"): [tag for _, _, tag in names],
        ("id", "IMAGE ID"): [img["Id"][7:19] for img in images],
        ("created", "CREATED"): [ago(img["Created"], now) for img in images],
        ("size", "SIZE"): [human_size(img[size_key], 4) for img in images],  # VirtualSize, as Docker prints it
        ("shared", "SHARED SIZE"): [human_size(img[shared_key], 4) for img in images],
        ("unique", "UNIQUE SIZE"): [human_size(img[size_key] - img[shared_key], 4) for img in images],
    }
    if not disk:
        columns["fair", "FAIR SHARE"] = [human_size(img["FairShare"], 4) for img in images]
    columns["containers", "CONTAINERS"] = [str(img["Containers"]) for img in images]
    columns["used", "LAST USED"] = [_last_used(img["LastUsedAt"], now) for img in images]
    if fmt == "csv":
        keys = [key for key, _ in columns]
        return render_rows([dict(zip(keys, cells)) for cells in zip(*columns.values())], list(columns), fmt)
    return render_columns(list(columns.values()), [header for _, header in columns], fmt)


def _last_used(when: str | None, now: float) -> str:
    """When a container was last created from the image; "never" since it came in."""
    return ago(parse_rfc3339(when), now) if when else "never"


def _containers(df: dict[str, Any], disk: bool, fmt: str) -> str:
    rows = [
        {
            "id": c["Id"][:12],
            "image": c["Image"],
            "command": '"' + (c["Command"] if len(c["Command"]) <= 20 else c["Command"][:19] + "…") + '"',
            "volumes": 0,
            "size": human_size(c["DiskRw"] if disk else c["SizeRw"]),
            "created": ago(c["Created"]),
            "status": c["Status"],
            "names": c["Names"][0].lstrip("/"),
        }
        for c in df["Containers"]
    ]
    columns = [
        ("id", "CONTAINER ID"),
        ("image", "IMAGE"),
        ("command", "COMMAND"),
        ("volumes", "LOCAL VOLUMES"),
        ("size", "SIZE"),
        ("created", "CREATED"),
        ("status", "STATUS"),
        ("names", "NAMES"),
    ]
    return render_rows(rows, columns, fmt)
