"""Generated images, for the demo, the tests and the benchmarks: deterministic docker-archives.

Layers are tars of seeded pseudo-random files, so the same call always yields the same
bytes, IDs and sizes; images sharing a layer object share it in the archive, as Docker's
save writes them.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile
from dataclasses import dataclass, field

MTIME = 1_700_000_000


def layer_tar(seed: str, files: dict[str, int]) -> bytes:
    """A layer holding `files` (path -> size) of seeded random bytes, directories implied."""
    rng = random.Random(seed)
    buf = io.BytesIO()
    made: set[str] = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, size in files.items():
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in made:
                    made.add(d)
                    ti = tarfile.TarInfo(d)
                    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, MTIME
                    tf.addfile(ti)
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = size, 0o644, MTIME
            tf.addfile(ti, io.BytesIO(rng.randbytes(size)))
    return buf.getvalue()


@dataclass
class Image:
    tags: list[str]
    layers: list[bytes]
    created: str = "2026-01-01T00:00:00Z"
    labels: dict[str, str] = field(default_factory=dict)

    def config(self) -> bytes:
        diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in self.layers]
        return json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "created": self.created,
                "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"], "Labels": self.labels or None},
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "history": [
                    {"created": self.created, "created_by": f"generated layer {i}"} for i in range(len(diff_ids))
                ],
            },
            separators=(",", ":"),
        ).encode()


def docker_archive(images: list[Image]) -> bytes:
    """A `docker save` archive in the legacy layout (as dockerd 20.10 writes it)."""
    out = io.BytesIO()
    manifest, written = [], set()
    with tarfile.open(fileobj=out, mode="w") as tf:

        def add(name: str, data: bytes) -> None:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(data), MTIME
            tf.addfile(ti, io.BytesIO(data))

        for image in images:
            names = []
            for layer in image.layers:
                name = hashlib.sha256(layer).hexdigest() + "/layer.tar"
                if name not in written:
                    written.add(name)
                    add(name, layer)
                names.append(name)
            config = image.config()
            config_name = hashlib.sha256(config).hexdigest() + ".json"
            add(config_name, config)
            manifest.append({"Config": config_name, "RepoTags": image.tags or None, "Layers": names})
        add("manifest.json", json.dumps(manifest).encode())
    return out.getvalue()
