"""The scale workload: many images over a shared base, 10 group layers and one small unique
layer each — a build host's shape — as a real archive, or as metadata rows alone.

The archive is loaded through `bilge load` (real layers on disk, for prune). The metadata
store writes the same graph straight into bilge.db, with no files, so the read-only commands
can be measured at sizes (100,000 images) that would take hours to load for real.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from bilge.fabricate import Image, docker_archive, layer_tar

GROUPS = 10


def scale_archive(path: Path, images: int) -> Path:
    base = layer_tar("scale-base", {f"usr/lib/lib{i}.so": 8192 for i in range(20)})
    groups = [layer_tar(f"scale-group{g}", {f"opt/group{g}/data": 65536}) for g in range(GROUPS)]
    path.write_bytes(
        docker_archive(
            [
                Image(
                    [f"scale/app{n % 500}:v{n // 500}"],
                    [base, groups[n % GROUPS], layer_tar(f"scale-app{n}", {f"app/{n}": 512})],
                    created=_created(n),
                )
                for n in range(images)
            ]
        )
    )
    return path


def _created(n: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_700_000_000 + n * 60))


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def metadata_store(root: Path, images: int) -> Path:
    """A store whose database holds the scale graph (no layer files): for read-only commands."""
    from bilge.store.core import Store
    from bilge.store.db import write
    from bilge.store.digest import chain_id

    store = Store(root)
    now = time.time()
    layers: list[tuple] = []

    def layer(parent: str | None, name: str, size: int) -> str:
        chain = chain_id(parent, _digest(name))
        layers.append(
            (
                chain,
                _digest(name),
                parent,
                chain[7:],
                chain[7:33],
                size,
                size + 4096,
                3,
                _digest("ts" + name),
                "overlay",
                now,
            )
        )
        return chain

    base = layer(None, "base", 160_000)
    groups = [layer(base, f"group{g}", 65_536) for g in range(GROUPS)]
    rows, chains, tags = [], [], []
    for n in range(images):
        top = layer(groups[n % GROUPS], f"app{n}", 512)
        image_id = _digest(f"config{n}")
        rows.append((image_id, None, _created(n), now - images + n, None, "amd64", "linux", 1000, None, 226_048))
        chains += [(image_id, 0, base), (image_id, 1, groups[n % GROUPS]), (image_id, 2, top)]
        tags.append((f"docker.io/scale/app{n % 500}", f"v{n // 500}", image_id, now))
    inserts = {
        "layers (chain_id, diff_id, parent, dir, short, size, disk, entries, tarsplit, whiteouts, created)": layers,
        "images (id, parent, created, added, last_used, architecture, os, config_size, labels, size)": rows,
        "image_layers (image_id, position, chain_id)": chains,
        "tags (repository, tag, image_id, created)": tags,
    }
    with write(store.db):
        for into, values in inserts.items():
            marks = ", ".join("?" * len(values[0]))
            store.db.conn.executemany(f"INSERT INTO {into} VALUES ({marks})", values)
    store.close()
    return root
