"""bilge at scale: the read-only commands over 1,000, 10,000 and 100,000 images, and
`image prune -a -f` of 1,000 and 10,000 real images against `rm -rf` of the same files.

The workload (tests/benchmarks/scale.py) is a build host's shape: a shared base, 10 group
layers, one small unique layer per image. The read-only commands run on metadata stores (the
graph in bilge.db, no files), warm, medians of 5; each line prints the time and the cost per
image, so growth shows at a glance. `images` and `system df` read back what the previous run
derived while nothing changed (store/memo.py), so each is timed twice: warm, and as the first
run after a change (a write that moves the database's generation and nothing else). The prune runs on stores loaded for real with `bilge
load`, restored from a pristine copy before each round and caches dropped (bench.race); its
peer deletes exactly what the prune deletes (every layer directory, link and blob) with one
`rm -rf`.

Run: python -m pytest -m benchmark tests/benchmarks/test_scale_bench.py -s
"""

from __future__ import annotations

import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bench import disk_dir, race  # type: ignore[import-not-found]
from scale import metadata_store, scale_archive  # type: ignore[import-not-found]

READ_ONLY = [["images"], ["system", "df", "-v"], ["image", "prune", "-a", "--dry-run"]]


def _bilge(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bilge", "--root", str(root), *args], check=True, capture_output=True, text=True
    )


@pytest.mark.parametrize("images", [1_000, 10_000, 100_000])
def test_read_only_commands(images: int) -> None:
    scratch = disk_dir("bilge-bench-scale-")
    try:
        root = metadata_store(scratch / "store", images)
        listed = _bilge(root, "images", "-q").stdout.split()
        assert len(listed) == images, f"the store lists {len(listed)} images, not {images}"
        for args in READ_ONLY:
            _bilge(root, *args)  # warm
            for changed in (False, True):
                times = []
                for _ in range(5):
                    if changed:
                        _move_generation(root)
                    start = time.perf_counter()
                    _bilge(root, *args)
                    times.append(time.perf_counter() - start)
                median = statistics.median(times)
                what = f"{' '.join(args)}{' (after a change)' if changed else ''}"
                print(f"\n{images:>7} images  {what:<46} {median:6.3f} s  {median / images * 1e6:7.1f} µs/image")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _move_generation(root: Path) -> None:
    """A write that changes no figure: the next command must still derive everything again."""
    with sqlite3.connect(root / "bilge.db") as conn:
        conn.execute("UPDATE images SET size = size WHERE rowid = (SELECT min(rowid) FROM images)")


@pytest.mark.parametrize("images", [1_000, 10_000])
def test_prune_all_vs_rm(images: int) -> None:
    scratch = disk_dir("bilge-bench-scale-prune-")
    pristine, ours, twin = scratch / "pristine", scratch / "store", scratch / "twin"
    try:
        archive = scale_archive(scratch / "images.tar", images)
        _bilge(pristine, "load", "-i", str(archive))
        assert len(_bilge(pristine, "images", "-q").stdout.split()) == images

        def restore(target: Path) -> None:
            shutil.rmtree(target, ignore_errors=True)
            subprocess.run(["cp", "-a", str(pristine), str(target)], check=True)

        def prune() -> None:
            _bilge(ours, "image", "prune", "-a", "-f")

        def rm() -> None:
            subprocess.run(["rm", "-rf", str(twin / "layers"), str(twin / "blobs")], check=True)

        times = race(
            f"image prune -a -f of {images} images",
            {"bilge": (lambda: restore(ours), prune), "rm -rf": (lambda: restore(twin), rm)},
            rounds=3,
        )
        left = [p.name for p in (ours / "layers").iterdir() if p.name != "l"]
        assert not left and not list((ours / "layers" / "l").iterdir()), f"prune left {len(left)} layers"
        assert not list((ours / "blobs" / "sha256").iterdir()), "prune left blobs"
        print(f"bilge/rm -rf = {times['bilge'] / times['rm -rf']:.2f}x")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
