"""Generated workloads shared by the benchmarks: deterministic, sized by the issues' figures."""

from __future__ import annotations

from pathlib import Path

from bilge.fabricate import Image, docker_archive, layer_tar

MIB = 1 << 20


def spread_layer(seed: str, total: int, files: int) -> bytes:
    """About `total` bytes over `files` files: four big ones and many small, like a distro layer."""
    big = total * 8 // 10
    small = max(1, (total - big) // max(1, files - 4))
    sizes = {f"{seed}/big/f{i}": big // 4 for i in range(4)}
    sizes.update({f"{seed}/d{i // 100}/f{i}": small for i in range(max(0, files - 4))})
    return layer_tar(seed, sizes)


def multi_layer_archive(path: Path, total: int = 200 * MIB, layers: int = 4, files_per_layer: int = 2000) -> Path:
    """~`total` bytes over `layers` layers: the load benchmark's "~200 MB multi-layer archive"."""
    each = total // layers
    image = Image(["bench/load:latest"], [spread_layer(f"l{i}", each, files_per_layer) for i in range(layers)])
    path.write_bytes(docker_archive([image]))
    return path
