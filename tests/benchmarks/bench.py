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


Step = Callable[[], object]


def race(name: str, runs: dict[str, tuple[Step | None, Step]], rounds: int = 3) -> dict[str, float]:
    """Each round, for each tool in turn: prepare (untimed), settle, then time its work.

    Returns the median seconds per tool and prints them with each peer's ratio to bilge.
    """
    times: dict[str, list[float]] = {tool: [] for tool in runs}
    for _ in range(rounds):
        for tool, (prepare, work) in runs.items():
            if prepare:
                prepare()
            times[tool].append(timed(work))
    medians = {tool: statistics.median(t) for tool, t in times.items()}
    ours = medians["bilge"]
    parts = [
        f"{tool} {s:.2f} s" + ("" if tool == "bilge" else f" ({s / ours:.2f}x bilge)") for tool, s in medians.items()
    ]
    print(f"\n{name}: " + ", ".join(parts) + f" (medians of {rounds})")
    return medians


def empty_docker(dockerd) -> None:
    """Remove everything the daemon holds, then prove it holds nothing: a peer that already has
    some of the layers is timed doing less work, and its ratio flatters it. Refuses otherwise."""
    containers = dockerd.docker("ps", "-aq").stdout.split()
    if containers:
        dockerd.docker("rm", "-f", *containers)
    dockerd.docker("image", "prune", "-a", "-f")  # children before parents: a build's chains too
    images = dockerd.docker("images", "-aq").stdout.split()
    if images:
        dockerd.docker("rmi", "-f", *sorted(set(images)), check=False)
    dockerd.docker("builder", "prune", "-a", "-f", check=False)
    root = Path(dockerd.docker("info", "--format", "{{.DockerRootDir}}").stdout.strip())
    left = dockerd.docker("images", "-aq").stdout.split()
    left += [p.name for p in (root / "overlay2").iterdir() if p.name != "l"]
    layerdb = root / "image" / "overlay2" / "layerdb" / "sha256"
    left += [p.name for p in layerdb.iterdir()] if layerdb.exists() else []
    if left:
        raise AssertionError(f"the docker peer still holds {len(left)} images or layers (e.g. {left[0]}): no ratio")


def disk_dir(prefix: str) -> Path:
    """Scratch on the disk (not the tests' tmpfs), where bilge and its peer both keep their data."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
