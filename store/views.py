"""`inspect` and `history` for images, in the shapes Docker's Engine API returns."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from .core import Store
from .dockerconfig import docker_config, go_time
from .timeutil import parse_rfc3339, rfc3339_nano

ZERO_TIME = "0001-01-01T00:00:00Z"


def inspect_image(store: Store, image_id: str) -> dict[str, Any]:
    images = store.images
    config = images.config(image_id)
    row = images.get(image_id)
    size = images.size(image_id)
    chain = images.chain(image_id)
    driver: dict[str, Any] = {"Name": "bilge", "Data": None}
    if chain:
        ancestry = store.layers.ancestry(chain[-1])
        paths = [str(store.layout.layers / r["dir"] / "diff") for r in ancestry]
        driver["Data"] = {"UpperDir": paths[0], **({"LowerDir": ":".join(paths[1:])} if paths[1:] else {})}
    out: dict[str, Any] = {
        "Id": image_id,
        "RepoTags": images.repo_tags(image_id),
        "RepoDigests": images.repo_digests(image_id),
        "Parent": row["parent"] or "",
        "Comment": _comment(config),
        "Created": go_time(config.get("created")),
        "Container": config.get("container", ""),
        "ContainerConfig": docker_config(config.get("container_config")),
        "DockerVersion": config.get("docker_version", ""),
        "Author": config.get("author", ""),
        "Config": None if config.get("config") is None else docker_config(config["config"]),
        "Architecture": config.get("architecture", ""),
        **({"Variant": config["variant"]} if config.get("variant") else {}),
        "Os": config.get("os", ""),
        **({"OsVersion": config["os.version"]} if config.get("os.version") else {}),
        "Size": size,
        "VirtualSize": size,
        "GraphDriver": driver,
        "RootFS": {"Type": config["rootfs"].get("type", "layers"), "Layers": config["rootfs"].get("diff_ids") or []},
        "Metadata": {"LastTagTime": _last_tag_time(store, image_id)},
    }
    pin = images.pin_of(image_id)
    if pin:  # bilge's own, under its own key and only when pinned: Docker's shape stays Docker's
        out["Bilge"] = {"Pin": {**pin, "Since": rfc3339_nano(pin["Since"]) if pin["Since"] else None}}
    return out


def _comment(config: dict[str, Any]) -> str:
    """Docker's: the config's comment, else the last history entry's (what `commit -m` wrote)."""
    history = config.get("history") or []
    return config.get("comment") or (history[-1].get("comment", "") if history else "")


def _last_tag_time(store: Store, image_id: str) -> str:
    from datetime import datetime

    row = store.db.execute("SELECT MAX(created) FROM tags WHERE image_id = ?", [image_id]).fetchone()
    if not row or row[0] is None:
        return ZERO_TIME
    return datetime.fromtimestamp(row[0], UTC).isoformat().replace("+00:00", "Z")


def history(store: Store, image_id: str) -> list[dict[str, Any]]:
    """Newest first; IDs along the local parent chain, `<missing>` beyond it (Docker's algorithm)."""
    images = store.images
    config = images.config(image_id)
    chain = images.chain(image_id)
    sizes = {
        row["chain_id"]: row["size"]
        for row in store.db.query(
            "SELECT chain_id, size FROM layers WHERE chain_id IN (SELECT chain_id FROM image_layers WHERE image_id = ?)",
            [image_id],
        )
    }
    items: list[dict[str, Any]] = []
    position = 0
    for entry in config.get("history") or []:
        size = 0
        if not entry.get("empty_layer") and position < len(chain):
            size = sizes.get(chain[position], 0)
            position += 1
        items.insert(
            0,
            {
                "Id": "<missing>",
                "Created": parse_rfc3339(entry.get("created")),
                "CreatedBy": entry.get("created_by", ""),
                "Comment": entry.get("comment", ""),
                "Size": size,
                "Tags": [],
            },
        )
    current: str | None = image_id
    for item in items:
        if not current or not images.exists(current):
            break
        item["Id"] = current
        item["Tags"] = images.repo_tags(current)
        current = images.get(current)["parent"]
    return items
