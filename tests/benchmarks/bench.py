"""Benchmark helpers: equal starting conditions for bilge and its peer, measured in one run."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def settle() -> None:
    """Flush dirty pages and, as root, drop caches, so neither tool pays for the other's writes."""
    subprocess.run(["sync"], check=True)
    if os.geteuid() == 0:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    time.sleep(1)


def timed(fn: Callable[[], object]) -> float:
    settle()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(name: str, ours: Callable[[], object], peer_name: str, peer: Callable[[], object],
            rounds: int = 3, reset: Callable[[], object] | None = None) -> tuple[float, float]:
    """Alternate the two workloads `rounds` times; print and return the medians (ours, peer)."""
    a, b = [], []
    for _ in range(rounds):
        a.append(timed(ours))
        b.append(timed(peer))
        if reset:
            reset()
    ours_s, peer_s = statistics.median(a), statistics.median(b)
    print(f"\n{name}: bilge {ours_s:.2f} s, {peer_name} {peer_s:.2f} s, "
          f"ratio {peer_name}/bilge = {peer_s / ours_s:.2f}x (medians of {rounds})")
    return ours_s, peer_s


def disk_dir(prefix: str) -> Path:
    """Scratch on the disk (not the tests' tmpfs), where bilge and its peer both keep their data."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
