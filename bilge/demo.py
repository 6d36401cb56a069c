"""`bilge demo`: the main job on a built-in default, with no network.

Generates a small family of images the way real ones share layers (one base, two
runtimes on it, several apps on each), loads them through the real `load` path as a
docker-archive, and shows `images` and what each image costs on disk.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

BASE_MB, RUNTIME_MB, APP_MB = 3, 2, 1


def _layer(seed: str, files: dict[str, int]) -> bytes:
    """A layer tar of pseudo-random files (seeded, so every demo builds the same images)."""
    rng = random.Random(seed)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, size in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = size, 0o644, 1_700_000_000
            tf.addfile(ti, io.BytesIO(rng.randbytes(size)))
    return buf.getvalue()


def _config(diff_ids: list[str], name: str, created: str) -> bytes:
    return json.dumps({
        "architecture": "amd64", "os": "linux", "created": created,
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/" + name], "Labels": {"demo": name}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": created, "created_by": f"demo layer {i}"} for i in range(len(diff_ids))],
    }, separators=(",", ":")).encode()


def build_archive() -> bytes:
    """A docker-archive (legacy layout) holding the demo images."""
    mib = 1 << 20
    base = _layer("base", {"usr/lib/libc.so": BASE_MB * mib, "etc/os-release": 64})
    runtimes = {r: _layer(r, {f"usr/lib/{r}/runtime.so": RUNTIME_MB * mib}) for r in ("python", "node")}
    images: list[tuple[str, list[bytes]]] = [("base:1", [base])]
    for runtime, layer in runtimes.items():
        images.append((f"{runtime}:1", [base, layer]))
        for app in range(1, 4):
            app_layer = _layer(f"{runtime}-app{app}", {f"app/{runtime}-app{app}.bin": APP_MB * mib * app})
            images.append((f"{runtime}-app{app}:v1", [base, layer, app_layer]))
    images.append(("orphan:old", [_layer("orphan", {"opt/old.bin": 2 * mib})]))
    out = io.BytesIO()
    manifest, written = [], set()
    with tarfile.open(fileobj=out, mode="w") as tf:
        def add(name: str, data: bytes) -> None:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))

        for day, (tag, layers) in enumerate(images):
            ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
            for diff_id, layer in zip(ids, layers):
                if diff_id not in written:
                    written.add(diff_id)
                    add(f"{diff_id[7:]}/layer.tar", layer)
            config = _config(ids, tag.split(":")[0], f"2026-01-{day + 1:02d}T00:00:00Z")
            config_name = hashlib.sha256(config).hexdigest() + ".json"
            add(config_name, config)
            manifest.append({"Config": config_name, "RepoTags": [tag], "Layers": [f"{d[7:]}/layer.tar" for d in ids]})
        add("manifest.json", json.dumps(manifest).encode())
    return out.getvalue()


def run(root: Path | None) -> None:
    from bilge.gc.accounting import image_usage
    from bilge.store.core import Store
    from bilge.store.load import load
    from bilge.store.tables import human_size, render

    scratch = None if root else Path(tempfile.mkdtemp(prefix="bilge-demo-"))
    store = Store(root or scratch)
    try:
        say = sys.stdout.write
        loaded = load(store, io.BytesIO(build_archive()))
        say(f"Loaded {len(loaded)} generated images into {store.layout.root}\n\n$ bilge images\n")
        from bilge.store.listing import list_images
        from bilge.store.tables import ago

        listed = list_images(store)
        rows = [{"repo": t[0], "tag": t[1], "id": i.id[7:19], "created": ago(i.created), "size": human_size(i.size)}
                for i in listed for t in i.repo_tags]
        say(render(rows, [("repo", "REPOSITORY"), ("tag", "TAG"), ("id", "IMAGE ID"), ("created", "CREATED"),
                          ("size", "SIZE")], "table") + "\n\n")
        usage = image_usage(store.db)
        say("What each image costs (unique = what `rmi` of it alone frees):\n")
        rows = [{"name": ", ".join(f"{r}:{t}" for r, t in i.repo_tags), "size": human_size(usage[i.id].size),
                 "shared": human_size(usage[i.id].shared), "unique": human_size(usage[i.id].unique),
                 "fair": human_size(usage[i.id].fair_share)} for i in listed]
        say(render(rows, [("name", "IMAGE"), ("size", "SIZE"), ("shared", "SHARED"), ("unique", "UNIQUE"),
                          ("fair", "FAIR SHARE")], "table") + "\n")
        total = store.db.execute("SELECT SUM(size) FROM layers").fetchone()[0]
        naive = sum(u.size for u in usage.values())
        say(f"\nLayers on disk: {human_size(total)}; adding up image sizes would claim {human_size(naive)}.\n")
    finally:
        store.close()
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
