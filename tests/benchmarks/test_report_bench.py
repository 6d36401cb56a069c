"""`bilge report` on 10,000 images: it must finish in seconds. Printed against
`docker system df -v` over the same 10,000 images (and 1,000) where a daemon is available — the command
Docker users have for the question, though the report answers far more (top, what-if of nine
prunes, waste, trends, and the HTML charts).

The first test times every format on a metadata store (tests/benchmarks/scale.py: the graph in
bilge.db, no layer files, so waste reports each top image's missing tar-split instead), warm,
medians of three. The second loads the same scale archive into bilge and into a private
dockerd and races `bilge report` (html and json) against `docker system df -v` (bench.race).

Run: python -m pytest -m benchmark tests/benchmarks/test_report_bench.py -s
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bench import disk_dir, empty_docker, race  # type: ignore[import-not-found]
from scale import metadata_store, scale_archive  # type: ignore[import-not-found]

IMAGES = 10_000


def _bilge(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bilge", "--root", str(root), *args], check=True, capture_output=True, text=True
    )


def test_report_at_scale() -> None:
    scratch = disk_dir("bilge-bench-report-")
    try:
        root = metadata_store(scratch / "store", IMAGES)
        for fmt in ("json", "md", "csv", "html"):
            out = scratch / f"report.{fmt}"
            _bilge(root, "report", "--format", fmt, "-o", str(out))  # warm
            times = []
            for _ in range(3):
                start = time.perf_counter()
                _bilge(root, "report", "--format", fmt, "-o", str(out))
                times.append(time.perf_counter() - start)
            median = statistics.median(times)
            size = out.stat().st_size
            print(f"\nreport --format {fmt:<5} {IMAGES} images: {median:6.2f} s  ({size / 1e6:.1f} MB written)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.mark.docker
@pytest.mark.parametrize("images", [1_000, IMAGES])
def test_report_vs_docker_system_df(dockerd, images: int) -> None:
    """1,000 images as well: `docker load` of 10,000 takes the better part of an hour."""
    scratch = disk_dir("bilge-bench-report-docker-")
    root = scratch / "store"
    try:
        archive = scale_archive(scratch / "images.tar", images)
        _bilge(root, "load", "-q", "-i", str(archive))
        empty_docker(dockerd)
        dockerd.docker("load", "-q", "-i", str(archive), timeout=3600)
        listed = dockerd.docker("images", "-q").stdout.split()
        assert len(listed) == images, f"docker holds {len(listed)} images, not {images}"
        html, data = scratch / "report.html", scratch / "report.json"
        race(
            f"report vs docker system df -v, {images} images",
            {
                "bilge": (None, lambda: _bilge(root, "report", "-o", str(html))),
                "bilge report --format json": (
                    None,
                    lambda: _bilge(root, "report", "--format", "json", "-o", str(data)),
                ),
                "docker system df -v": (None, lambda: dockerd.docker("system", "df", "-v")),
            },
        )
    finally:
        dockerd.docker("image", "prune", "-a", "-f", check=False, timeout=3600)
        shutil.rmtree(scratch, ignore_errors=True)
