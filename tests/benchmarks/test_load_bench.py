"""`bilge load` of a ~200 MB multi-layer archive against `docker load` of the same file.

Run: python -m pytest -m benchmark tests/benchmarks/test_load_bench.py -s
"""

from __future__ import annotations

import shutil
import subprocess
import sys

from bench import disk_dir, empty_docker, race  # type: ignore[import-not-found]
from workloads import MIB, multi_layer_archive  # type: ignore[import-not-found]


def test_load_vs_docker(dockerd) -> None:
    scratch = disk_dir("bilge-bench-load-")
    archive = multi_layer_archive(scratch / "bench.tar", total=200 * MIB, layers=4)
    root = scratch / "store"
    print(f"\narchive: {archive.stat().st_size / MIB:.0f} MiB, 4 layers, 8000 files")

    def fresh_store() -> None:
        shutil.rmtree(root, ignore_errors=True)

    def bilge() -> None:
        subprocess.run(
            [sys.executable, "-m", "bilge", "--root", str(root), "load", "-i", str(archive)],
            check=True,
            capture_output=True,
        )

    def no_image_in_docker() -> None:
        empty_docker(dockerd)

    def docker() -> None:
        dockerd.docker("load", "-i", str(archive))

    try:
        times = race("load 200 MB", {"bilge": (fresh_store, bilge), "docker load": (no_image_in_docker, docker)})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert all(t > 0 for t in times.values())
