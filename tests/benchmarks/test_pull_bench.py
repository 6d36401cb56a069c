"""Issue 5: `bilge pull` of a ~200 MB, 4-layer image from the loopback registry, against
`docker pull` (the private dockerd) and skopeo's download-only `copy … dir:`, in one run.

The image goes into the registry once, with skopeo. Each tool starts from an empty store,
caches dropped (bench.race). bilge's peak memory is its own maximum resident set size.

Run: python -m pytest -m benchmark tests/benchmarks/test_pull_bench.py -s
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import disk_dir, race  # type: ignore[import-not-found]
from workloads import MIB, multi_layer_archive  # type: ignore[import-not-found]

MEMORY_LIMIT = 150 * MIB


def peak_rss(proc: subprocess.Popen) -> int:
    """The child's own high-water RSS (VmHWM), polled until it exits.

    Not getrusage: its ru_maxrss counts the parent's memory the child had before exec.
    """
    peak = 0
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except OSError:
            break
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]) * 1024)
        time.sleep(0.02)
    return peak


def test_pull_vs_docker_and_skopeo(start_registry, dockerd) -> None:
    scratch = disk_dir("bilge-bench-pull-")
    try:
        archive = multi_layer_archive(scratch / "bench.tar", total=200 * MIB, layers=4)
        reg = start_registry("bench")
        ref = reg.ref("bench/pull:latest")
        reg.copy_in(f"docker-archive:{archive}", "bench/pull:latest")
        size = sum(layer["size"] for layer in json.loads(reg.raw_manifest("bench/pull:latest"))["layers"])
        print(f"\nimage: {size / MIB:.0f} MiB compressed in 4 layers, 8000 files")
        root, copy = scratch / "store", scratch / "skopeo-dir"
        peaks: list[int] = []

        def fresh_store() -> None:
            shutil.rmtree(root, ignore_errors=True)

        def bilge() -> None:
            proc = subprocess.Popen([sys.executable, "-m", "bilge", "--root", str(root), "pull", "-q", ref],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            peaks.append(peak_rss(proc))
            assert proc.wait() == 0, proc.stderr.read().decode() if proc.stderr else ""

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
