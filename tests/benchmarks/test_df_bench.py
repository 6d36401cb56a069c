"""`system df -v` with 1,000 images and 200 stopped containers holding
50,000 files in their writable layers, bilge against dockerd (bilge should be ≥ 5x faster).

Docker walks every writable layer to size it on each call; bilge stored the size when the
container stopped and reads SQL.

Run: python -m pytest -m benchmark tests/benchmarks/test_df_bench.py -s
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bench import disk_dir, empty_docker, race  # type: ignore[import-not-found]

from bilge.fabricate import Image, docker_archive, layer_tar

IMAGES, CONTAINERS = 1000, 200


def _images() -> bytes:
    base = layer_tar("df-base", {f"lib/l{i}": 1000 for i in range(20)})
    return docker_archive(
        [Image([f"bench/df:{n}"], [base, layer_tar(f"df{n}", {f"app/{n}": 500, "etc/v": 10})]) for n in range(IMAGES)]
    )


@pytest.mark.parametrize("files", [250, 1000], ids=["50k-files", "200k-files"])
def test_system_df_vs_docker(dockerd, fixtures_dir: Path, files: int) -> None:
    """The target workload (50,000 files), and one with four times the files, where the walk
    Docker does on every call costs four times as much and bilge's stored sizes nothing more."""
    write = f"mkdir /w && cd /w && for i in $(seq {files}); do echo $i > f$i; done"
    scratch = disk_dir("bilge-bench-df-")
    archive = scratch / "images.tar"
    archive.write_bytes(_images())
    root = scratch / "store"
    busybox = fixtures_dir / "docker" / "images.tar.gz"

    def bilge(*args: str) -> None:
        subprocess.run([sys.executable, "-m", "bilge", "--root", str(root), *args], check=True, capture_output=True)

    try:
        empty_docker(dockerd)
        for source in (busybox, archive):
            bilge("load", "-i", str(source))
            dockerd.docker("load", "-i", str(source))
        for n in range(CONTAINERS):
            bilge("run", "--name", f"c{n}", "busybox", "sh", "-c", write)
            dockerd.docker("run", "--network", "none", "--name", f"c{n}", "busybox", "sh", "-c", write)
        print(f"\n{IMAGES + 8} images, {CONTAINERS} stopped containers, {CONTAINERS * files} files in writable layers")
        times = race(
            "system df -v",
            {
                "bilge": (None, lambda: bilge("system", "df", "-v")),
                "docker system df -v": (None, lambda: dockerd.docker("system", "df", "-v")),
            },
            rounds=3,
        )
        print(f"docker/bilge = {times['docker system df -v'] / times['bilge']:.2f}x")
    finally:
        dockerd.docker("system", "prune", "-a", "-f", check=False)
        subprocess.run(
            [sys.executable, "-m", "bilge", "--root", str(root), "system", "prune", "-a", "-f"], capture_output=True
        )
        shutil.rmtree(scratch, ignore_errors=True)
