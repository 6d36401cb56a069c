"""Issue 5: `bilge pull` of a ~200 MB, 4-layer image from the loopback registry, against
`docker pull` (the private dockerd) and skopeo's download-only `copy … dir:`, in one run.

The image goes into the registry once, with skopeo. Each tool starts from an empty store,
caches dropped (bench.race). bilge's peak memory is its own maximum resident set size.

Run: python -m pytest -m benchmark tests/benchmarks/test_pull_bench.py -s
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from bench import disk_dir, race  # type: ignore[import-not-found]
from workloads import MIB, multi_layer_archive  # type: ignore[import-not-found]

MEMORY_LIMIT = 150 * MIB


def test_pull_vs_docker_and_skopeo(start_registry, dockerd) -> None:
    scratch = disk_dir("bilge-bench-pull-")
    try:
        archive = multi_layer_archive(scratch / "bench.tar", total=200 * MIB, layers=4)
        reg = start_registry("bench")
        ref = reg.ref("bench/pull:latest")
        reg.copy_in(f"docker-archive:{archive}", "bench/pull:latest")
        size = sum(layer["Size"] for layer in reg.inspect("bench/pull:latest")["LayersData"])
        print(f"\nimage: {size / MIB:.0f} MiB compressed in 4 layers, 8000 files")
        root, copy = scratch / "store", scratch / "skopeo-dir"
        peaks: list[int] = []

        def fresh_store() -> None:
            shutil.rmtree(root, ignore_errors=True)

        def bilge() -> None:
            proc = subprocess.Popen([sys.executable, "-m", "bilge", "--root", str(root), "pull", "-q", ref],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else ""
            peaks.append(usage.ru_maxrss * 1024)

        def no_image_in_docker() -> None:
            dockerd.docker("rmi", ref, check=False)

        def docker() -> None:
            dockerd.docker("pull", "-q", ref)

        def fresh_dir() -> None:
            shutil.rmtree(copy, ignore_errors=True)

        def skopeo() -> None:
            reg.skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{ref}", f"dir:{copy}")

        times = race("pull 200 MB", {"bilge": (fresh_store, bilge), "docker pull": (no_image_in_docker, docker),
                                     "skopeo copy dir:": (fresh_dir, skopeo)})
        print(f"bilge peak RSS: {max(peaks) / MIB:.0f} MiB (limit {MEMORY_LIMIT / MIB:.0f} MiB)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert all(t > 0 for t in times.values())
    assert max(peaks) < MEMORY_LIMIT
