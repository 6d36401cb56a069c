"""How containers look from outside: `inspect` in Docker's JSON shape, and `ps` rows and filters."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from ..core import Store
from ..errors import InvalidInput, NotFound
from ..tables import ago, human_duration, human_size
from ..timeutil import format_utc, rfc3339_nano
from .drivers import driver_for
from .records import STATES, Container

ZERO_TIME = "0001-01-01T00:00:00Z"
FILTER_KEYS = ("status", "label", "ancestor", "name", "id")
_DOCKER_STATES = STATES + ("paused", "restarting", "removing", "dead")


@dataclass
class Sizes:
    rw: int
    root_fs: int


def current(store: Store) -> list[Container]:
    """Every container, running ones checked against the kernel and the runtime first."""
    out = []
    for c in store.containers.all():
        if c.state != "running":
            out.append(c)
            continue
        from . import lifecycle  # only running containers need the runtime's word

        found = lifecycle.refresh(store, c)
        if found is not None:
            out.append(found)
    return out


def sizes(store: Store, c: Container) -> Sizes:
    """SizeRw (stored at the last stop; live while running) and SizeRootFs = SizeRw + image size."""
    rw = c.size_rw
    if c.state == "running" or rw is None:
        rw = driver_for(c.driver).writable_size(store, c)[0]
    return Sizes(rw, rw + store.images.size(c.image_id))


def _time(ts: float | None) -> str:
    return rfc3339_nano(ts) if ts else ZERO_TIME


def inspect_container(store: Store, c: Container, size: bool) -> dict[str, Any]:
    directory = store.layout.containers / c.id
    argv = c.argv
    out: dict[str, Any] = {
        "Id": c.id,
        "Created": _time(c.created),
        "Path": argv[0] if argv else "",
        "Args": argv[1:],
        "State": {
            "Status": c.state,
            "Running": c.state == "running",
            "Paused": False,
            "Restarting": False,
            "OOMKilled": False,
            "Dead": False,
            "Pid": c.pid or 0,
            "ExitCode": c.exit_code or 0,
            "Error": "",
            "StartedAt": _time(c.started_at),
            "FinishedAt": _time(c.finished_at),
        },
        "Image": c.image_id,
        "ResolvConfPath": str(directory / "resolv.conf"),
        "HostnamePath": str(directory / "hostname"),
        "HostsPath": str(directory / "hosts"),
        "LogPath": str(directory / "container.log"),
        "Name": "/" + c.name,
        "RestartCount": 0,
        "Driver": c.driver,
        "Platform": "linux",
        "HostConfig": {**c.host_config, "Runtime": c.runtime},
        "GraphDriver": {"Data": driver_for(c.driver).graph_data(store, c), "Name": c.driver},
    }
    if size:
        measured = sizes(store, c)
        out.update({"SizeRw": measured.rw, "SizeRootFs": measured.root_fs})
    out.update(
        {
            "Mounts": [],
            "Config": c.docker_config,
            "NetworkSettings": {"Networks": {c.host_config["NetworkMode"]: {}}},
        }
    )
    return out


# -- ps --------------------------------------------------------------------------------------


def command(c: Container) -> str:
    """Docker's COMMAND: the arguments joined, those with a space in single quotes."""
    return " ".join(f"'{arg}'" if " " in arg else arg for arg in c.argv)


def status(c: Container, now: float | None = None) -> str:
    now = time.time() if now is None else now
    if c.state == "running":
        return "Up " + human_duration(max(0.0, now - (c.started_at or now)))
    if c.state == "exited":
        return f"Exited ({c.exit_code if c.exit_code is not None else 0}) {human_duration(max(0.0, now - (c.finished_at or now)))} ago"
    return "Created"


def image_shown(store: Store, c: Container) -> str:
    """The name it was created from while that name still means its image, else the short ID."""
    name = c.docker_config.get("Image") or ""
    try:
        if store.images.resolve(name) == c.image_id:
            return name
    except (NotFound, InvalidInput):
        pass
    return c.image_id.removeprefix("sha256:")[:12]


def parse_filters(filters: list[str]) -> dict[str, list[str]]:
    """key -> values, for the keys given; Docker's status names are checked."""
    wanted: dict[str, list[str]] = {key: [] for key in FILTER_KEYS}
    for key, sep, value in (item.partition("=") for item in filters):
        if not sep or key not in wanted:
            raise InvalidInput(f"invalid filter '{key}{sep}{value}' (supported: {', '.join(FILTER_KEYS)})")
        if key == "status" and value not in _DOCKER_STATES:
            raise InvalidInput(f"invalid filter 'status={value}' (one of {', '.join(_DOCKER_STATES)})")
        wanted[key].append(value)
    return {key: values for key, values in wanted.items() if values}


def select(store: Store, found: list[Container], show_all: bool, filters: list[str]) -> list[Container]:
    """Docker's ps: running ones unless -a (or a status filter); every filter key must match."""
    wanted = parse_filters(filters)
    ancestors = _descendants(store, wanted.get("ancestor", []))
    out = []
    for c in found:
        if not show_all and "status" not in wanted and c.state != "running":
            continue
        if "status" in wanted and c.state not in wanted["status"]:
            continue
        if "ancestor" in wanted and c.image_id not in ancestors:
            continue
        if "name" in wanted and not any(v.removeprefix("/") in c.name for v in wanted["name"]):
            continue
        if "id" in wanted and not any(c.id.startswith(v) for v in wanted["id"]):
            continue
        if not all(_label_matches(c.labels, v) for v in wanted.get("label", [])):
            continue
        out.append(c)
    return out


def _label_matches(labels: dict[str, str], wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    return key in labels and (not sep or labels[key] == value)


def _descendants(store: Store, names: list[str]) -> set[str]:
    """The images named, and every image built on them (Docker's ancestor= filter)."""
    roots = []
    for name in names:
        try:
            roots.append(store.images.resolve(name))
        except NotFound:
            continue  # an unknown ancestor matches nothing
    if not roots:
        return set()
    marks = ",".join("?" * len(roots))
    rows = store.db.execute(
        f"WITH RECURSIVE d(id) AS (SELECT id FROM images WHERE id IN ({marks}) "
        "UNION SELECT i.id FROM images i JOIN d ON i.parent = d.id) SELECT id FROM d",
        roots,
    )
    return {row[0] for row in rows}


def inspect_named(store: Store, ref: str, size: bool) -> dict[str, Any]:
    """`inspect` of a container by name, ID or prefix; NotFound when there is none."""
    return inspect_container(store, store.containers.lookup(ref), size)


PS_HEADERS = {  # Docker's column names for each field a `ps --format` template can name
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": "SIZE",
    "Names": "NAMES",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "LocalVolumes": "LOCAL VOLUMES",
    "Networks": "NETWORKS",
}


def ps_rows(store: Store, found: list[Container], size: bool, no_trunc: bool) -> tuple[list[dict], list[dict]]:
    """`ps` rows with Docker's fields as its formatter shows them (truncations, units, Go's
    quoting), which tables and templates read; and records with exact values for json and csv
    (README, "Machine-readable output")."""
    rows, data = [], []
    now = time.time()
    for c in found:
        full = command(c)
        shown = full if no_trunc or len(full) <= 20 else full[:19] + "…"
        measured = sizes(store, c) if size else Sizes(0, 0)
        network = c.host_config.get("NetworkMode", "")
        rows.append(
            {
                "Command": json.dumps(shown, ensure_ascii=False),  # Go's strconv.Quote, as docker ps
                "CreatedAt": format_utc(c.created),
                "ID": c.id if no_trunc else c.id[:12],
                "Image": image_shown(store, c),
                "Labels": ",".join(f"{k}={v}" for k, v in sorted(c.labels.items())),
                "LocalVolumes": "0",
                "Mounts": "",
                "Names": c.name,
                "Networks": network,
                "Ports": "",
                "RunningFor": ago(c.created, now),
                "Size": human_size(measured.rw)
                + (f" (virtual {human_size(measured.root_fs)})" if measured.root_fs > 0 else ""),
                "State": c.state,
                "Status": status(c, now),
            }
        )
        exact: dict[str, Any] = {
            "ID": c.id,
            "Image": rows[-1]["Image"],
            "ImageID": c.image_id,
            "Command": full,
            "CreatedAt": rfc3339_nano(c.created) if c.created else None,
            "State": c.state,
            "Status": rows[-1]["Status"],
            "Names": c.name,
            "Labels": c.labels,
            "Networks": network,
        }
        if size:
            exact.update({"SizeRw": measured.rw, "SizeRootFs": measured.root_fs})
        data.append(exact)
    return rows, data
