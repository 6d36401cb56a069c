"""`bilge build` of the fixture contexts against a real dockerd's classic builder
(`DOCKER_BUILDKIT=0`), cold (empty stores) and fully cached (the same builds again).

Both start with nothing (the docker peer emptied and shown empty, bilge a new store), build
busybox from scratch as the fixtures were built, then app-v1, app-v2, zoo and multistage on
it, one `build` command per context. Medians of 3 rounds, caches dropped before each timing
(bench.race). The fully cached race also times `python -c pass` as many times: the floor a
Python command cannot go below (the interpreter and site, the venv's editable-install finder
included), so what bilge itself spends is the difference.

Run: python -m pytest -m benchmark tests/benchmarks/test_build_bench.py -s
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from bench import disk_dir, empty_docker, race  # type: ignore[import-not-found]

ORDER = [("busybox", "busybox:latest"), ("app-v1", "app:v1"), ("app-v2", "app:v2"), ("zoo", "zoo:latest"),
         ("multistage", "multistage:latest")]  # fmt: skip


def test_build_vs_docker_classic_builder(dockerd, fixtures_dir: Path) -> None:
    scratch = disk_dir("bilge-bench-build-")
    contexts = scratch / "contexts"
    subprocess.run([sys.executable, str(fixtures_dir / "docker/contexts/fill.py"), str(contexts)], check=True,
                   capture_output=True)  # fmt: skip
    root = scratch / "store"
    env = {**dockerd.env, "DOCKER_BUILDKIT": "0"}

    def bilge_all() -> None:
        for context, tag in ORDER:
            subprocess.run([sys.executable, "-m", "bilge", "--root", str(root), "build", "-q", "-t", tag,
                            str(contexts / context)], check=True, capture_output=True)  # fmt: skip

    def docker_all() -> None:
        for context, tag in ORDER:
            subprocess.run([dockerd.cli, "-H", dockerd.host, "build", "-q", "-t", tag, str(contexts / context)],
                           check=True, capture_output=True, env=env)  # fmt: skip

    def python_alone() -> None:  # the floor: the same interpreter starting five times and doing nothing
        for _ in ORDER:
            subprocess.run([sys.executable, "-c", "pass"], check=True, capture_output=True)

    def fresh_bilge() -> None:
        shutil.rmtree(root, ignore_errors=True)

    try:
        cold = race(
            "build the fixture contexts, cold",
            {"bilge": (fresh_bilge, bilge_all), "docker build (classic)": (lambda: empty_docker(dockerd), docker_all)},
        )
        warm = race(
            "build the fixture contexts, fully cached",
            {"bilge": (None, bilge_all), "docker build (classic)": (None, docker_all),
             "python -c pass, as often": (None, python_alone)},
        )  # fmt: skip
    finally:
        empty_docker(dockerd)
        shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"docker/bilge cold = {cold['docker build (classic)'] / cold['bilge']:.2f}x, "
        f"cached = {warm['docker build (classic)'] / warm['bilge']:.2f}x"
    )
