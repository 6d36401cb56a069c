"""Generated workloads shared by the benchmarks: deterministic, and sized by the issue's figures."""

from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile
from pathlib import Path

MIB = 1 << 20


def layer_tar(seed: str, total: int, files: int) -> bytes:
    """A layer of `files` files adding up to about `total` bytes: a few big, many small, like a distro."""
    rng = random.Random(seed)
    big = total * 8 // 10
    small_each = max(1, (total - big) // max(1, files - 4))
    sizes = [big // 4] * 4 + [small_each] * max(0, files - 4)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for i, size in enumerate(sizes):
            if i % 100 == 0:
                d = tarfile.TarInfo(f"{seed}/d{i // 100}")
                d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, 1_700_000_000
                tf.addfile(d)
            ti = tarfile.TarInfo(f"{seed}/d{i // 100}/f{i}")
            ti.size, ti.mode, ti.mtime = size, 0o644, 1_700_000_000
            tf.addfile(ti, io.BytesIO(rng.randbytes(size)))
    return buf.getvalue()


def docker_archive(path: Path, tag: str, layers: list[bytes]) -> Path:
    """Write a `docker save`-style archive (legacy layout, as dockerd 20.10 writes it)."""
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
        "config": {"Cmd": ["/bin/sh"]}, "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(len(layers))],
    }).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    with tarfile.open(path, "w") as tf:
        def add(name: str, data: bytes) -> None:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))

        for diff_id, layer in zip(diff_ids, layers):
            add(f"{diff_id[7:]}/layer.tar", layer)
        add(config_name, config)
        add("manifest.json", json.dumps([{"Config": config_name, "RepoTags": [tag],
                                          "Layers": [f"{d[7:]}/layer.tar" for d in diff_ids]}]).encode())
    return path


def multi_layer_archive(path: Path, total: int = 200 * MIB, layers: int = 4, files_per_layer: int = 2000) -> Path:
    """~`total` bytes over `layers` layers: the issue's "~200 MB multi-layer archive"."""
    each = total // layers
    return docker_archive(path, "bench/load:latest",
                          [layer_tar(f"l{i}", each, files_per_layer) for i in range(layers)])
