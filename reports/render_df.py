"""How `system df` looks: Docker's tables (human units as Docker rounds them) or exact data."""

from __future__ import annotations

import json
import time
from typing import Any

from bilge.store.tables import ago, ago_column, human_size, render_columns, size_column
from bilge.store.tables import render as render_rows
from bilge.store.timeutil import parse_rfc3339, rfc3339

from .df import summary


def _reclaimable(row: dict[str, Any]) -> str:
    """Docker's RECLAIMABLE: a share of the row's size, except the build cache's, which it prints bare."""
    part, total = row["Reclaimable"], row["Size"]
    return human_size(part, 4) if row["Type"] == "Build Cache" else _pct(part, total)


def _pct(part: int, total: int) -> str:
    text = human_size(part, 4)
    return f"{text} ({part * 100 // total}%)" if total > 0 else text


DF_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}


def summary_rows(df: dict[str, Any], disk: bool) -> list[dict[str, str]]:
    """The four rows as `docker system df` shows them: its fields, its units (what its table and
    a `--format` template read)."""
    return [
        {
            "Type": r["Type"],
            "TotalCount": str(r["TotalCount"]),
            "Active": str(r["Active"]),
            "Size": human_size(r["Size"], 4),
            "Reclaimable": _reclaimable(r),
        }
        for r in summary(df, disk)
    ]


def render(df: dict[str, Any], verbose: bool, disk: bool, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(df if verbose else summary(df, disk), indent=2)
    if not verbose:
        rows = summary(df, disk)
        shown = [{**row, "PruneFrees": human_size(r["PruneFrees"], 4)} for row, r in zip(summary_rows(df, disk), rows)]
        return render_rows(shown, [*DF_HEADERS.items(), ("PruneFrees", "PRUNE -A FREES")], fmt, rows)
    if fmt == "csv":
        return _verbose_csv(df, disk)
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
    sizes = [img[size_key] for img in images]
    shared = [img[shared_key] for img in images]
    columns = {
        "REPOSITORY": [repo for repo, _, _ in names],
        "TAG": [tag for _, _, tag in names],
        "IMAGE ID": [img["Id"][7:19] for img in images],
        "CREATED": ago_column([img["Created"] for img in images]),
        "SIZE": size_column(sizes, 4),  # VirtualSize, as Docker prints it
        "SHARED SIZE": size_column(shared, 4),
        "UNIQUE SIZE": size_column([size - common for size, common in zip(sizes, shared)], 4),
    }
    if not disk:
        columns["FAIR SHARE"] = size_column([img["FairShare"] for img in images], 4)
    columns["CONTAINERS"] = [str(img["Containers"]) for img in images]
    columns["LAST USED"] = [_last_used(img["LastUsedAt"], now) for img in images]
    return render_columns(list(columns.values()), list(columns), fmt)


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


def _verbose_csv(df: dict[str, Any], disk: bool) -> str:
    """`df -v` as one CSV (README, "Machine-readable output"): a header, then a row per image,
    container and build cache entry, with exact bytes and RFC 3339 times; no section
    titles; an image once, its names in one cell. A field a kind of object lacks is left empty."""
    size_key, shared_key = ("Disk", "SharedDisk") if disk else ("Size", "SharedSize")
    rows: list[dict[str, Any]] = []
    for img in df["Images"]:
        rows.append(
            {
                "Type": "image",
                "ID": img["Id"],
                "Names": [name for name in img["RepoTags"] or [] if name != "<none>:<none>"],
                "CreatedAt": rfc3339(img["Created"]),
                "Size": img[size_key],
                "SharedSize": img[shared_key],
                "UniqueSize": img[size_key] - img[shared_key],
                "FairShare": None if disk else img["FairShare"],
                "Containers": img["Containers"],
                "LastUsedAt": img["LastUsedAt"],
            }
        )
    for c in df["Containers"]:
        rows.append(
            {
                "Type": "container",
                "ID": c["Id"],
                "Names": [name.lstrip("/") for name in c["Names"]],
                "CreatedAt": rfc3339(c["Created"]),
                "Size": c["DiskRw"] if disk else c["SizeRw"],
                "Image": c["Image"],
                "Status": c["Status"],
            }
        )
    for e in df["BuildCache"]:
        rows.append(
            {
                "Type": "build cache",
                "ID": e["ID"],
                "CreatedAt": e["CreatedAt"],
                "Size": e["Disk"] if disk else e["Size"],
                "LastUsedAt": e["LastUsedAt"],
                "UsageCount": e["UsageCount"],
                "InUse": e["InUse"],
                "Shared": e["Shared"],
            }
        )
    keys = list(dict.fromkeys(key for row in rows for key in row))
    return render_rows([], [], "csv", [{key: row.get(key) for key in keys} for row in rows])
