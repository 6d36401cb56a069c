"""`image prune -a` of 500 images, against dockerd's and `rm -rf` of the
same directories (bilge should be ≥ 2x faster than Docker and within 1.5x of rm -rf).

Run: python -m pytest -m benchmark tests/benchmarks/test_prune_bench.py -s
"""

from __future__ import annotations

import shutil
import subprocess
import sys

from bench import disk_dir, empty_docker, race  # type: ignore[import-not-found]

from bilge.fabricate import Image, docker_archive, layer_tar

IMAGES = 500


def _archive() -> bytes:
    base = layer_tar("base", {f"usr/lib/lib{i}.so": 20_000 for i in range(50)})
    return docker_archive(
        [
            Image([f"bench/prune:{n}"], [base, layer_tar(f"app{n}", {f"app/{n}/f{i}": 4096 for i in range(20)})])
            for n in range(IMAGES)
        ]
    )


def test_prune_all_vs_docker_and_rm(dockerd) -> None:
    scratch = disk_dir("bilge-bench-prune-")
    archive = scratch / "images.tar"
    archive.write_bytes(_archive())
    ours, twin = scratch / "store", scratch / "twin"

    def bilge(root, *args: str) -> None:
        subprocess.run([sys.executable, "-m", "bilge", "--root", str(root), *args], check=True, capture_output=True)

    def load_ours() -> None:
        shutil.rmtree(ours, ignore_errors=True)
        bilge(ours, "load", "-i", str(archive))

    def load_twin() -> None:
        shutil.rmtree(twin, ignore_errors=True)
        bilge(twin, "load", "-i", str(archive))

    def rm_twin_layers() -> None:
        subprocess.run(["sh", "-c", f"rm -rf {twin}/layers/*"], check=True)

    def load_docker() -> None:
        empty_docker(dockerd)
        dockerd.docker("load", "-i", str(archive))

    try:
        times = race(
            f"image prune -a of {IMAGES} images",
            {
                "bilge": (load_ours, lambda: bilge(ours, "image", "prune", "-a", "-f")),
                "docker image prune": (load_docker, lambda: dockerd.docker("image", "prune", "-a", "-f")),
                "rm -rf": (load_twin, rm_twin_layers),
            },
            rounds=2,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"docker/bilge = {times['docker image prune'] / times['bilge']:.2f}x, "
        f"bilge/rm -rf = {times['bilge'] / times['rm -rf']:.2f}x"
    )
