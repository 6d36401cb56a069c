"""Concurrency soak: four bilge processes at a time, for a bounded time (`BILGE_SOAK_SECONDS`,
20 by default), doing load, tag, rmi, image prune, create, rm and commit at random (seeded:
`BILGE_ATTACK_SEED`) over a few images and container names that they share.

Any of them may fail (a name taken, an image in use, a container another one removed), but
only with one clear line; afterwards `bilge check` passes with nothing to report: racing
commands leave rows and files that agree.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import attack
from containers_support import needs_containers

from bilge.fabricate import Image, docker_archive, layer_tar

SEED = int(os.environ.get("BILGE_ATTACK_SEED") or random.SystemRandom().randrange(1 << 32))
SECONDS = float(os.environ.get("BILGE_SOAK_SECONDS", "20"))
WORKERS = 4
IMAGES = 4
NAMES = 4
# How often each operation is drawn: prunes (which take every unused image) seldom enough that
# there is something to tag, create from and commit.
WEIGHTS = {"load": 4, "tag": 3, "rmi": 2, "image prune": 1, "create": 3, "rm": 2, "commit": 2}


def archives(tmp_path: Path) -> list[Path]:
    """IMAGES archives of one image each, every one on the same base layer plus one of its own."""
    base = layer_tar("soak-base", {f"base/f{i}": 10_000 for i in range(30)})
    paths = []
    for n in range(IMAGES):
        path = tmp_path / f"soak{n}.tar"
        own = layer_tar(f"soak-{n}", {f"own{n}/f{i}": 10_000 for i in range(20)})
        path.write_bytes(docker_archive([Image([f"soak/i{n}:latest"], [base, own])]))
        paths.append(path)
    return paths


def operations(paths: list[Path]) -> dict[str, Callable[[random.Random], list[str]]]:
    def image(rng: random.Random) -> str:
        return rng.choice([f"soak/i{rng.randrange(IMAGES)}:latest", f"soak/t{rng.randrange(NAMES)}:x"])

    def name(rng: random.Random) -> str:
        return f"soak-c{rng.randrange(NAMES)}"

    return {
        "load": lambda rng: ["load", "-q", "-i", str(rng.choice(paths))],
        "tag": lambda rng: ["tag", image(rng), f"soak/t{rng.randrange(NAMES)}:x"],
        "rmi": lambda rng: ["rmi", image(rng)],
        "image prune": lambda rng: ["image", "prune", "-a", "-f"],
        "create": lambda rng: ["create", "--name", name(rng), image(rng), "true"],
        "rm": lambda rng: ["rm", "-f", name(rng)],
        "commit": lambda rng: ["commit", name(rng), f"soak/t{rng.randrange(NAMES)}:x"],
    }


def test_four_processes_racing_leave_a_consistent_store_and_only_clean_errors(bilge_root: Path, tmp_path: Path) -> None:
    needs_containers()
    attack.warm()
    rng = random.Random(SEED)
    attack.count("soak", "seed", SEED)
    paths = archives(tmp_path)
    ops = operations(paths)
    attack.ok(bilge_root, "load", "-q", "-i", str(paths[0]))
    running: list[tuple[str, list[str], attack.Child]] = []
    unclean: list[str] = []
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline or running:
        while len(running) < WORKERS and time.monotonic() < deadline:
            kind = rng.choices(list(WEIGHTS), list(WEIGHTS.values()))[0]
            args = ops[kind](rng)
            running.append((kind, args, attack.Child(bilge_root, args)))
        time.sleep(0.005)
        for item in [r for r in running if r[2].poll() is not None]:
            running.remove(item)
            kind, args, child = item
            result = child.result()
            attack.count("soak", f"{kind}: {'ok' if result.returncode == 0 else 'refused'}")
            if result.returncode != 0 and (why := attack.clean_error(result.stderr)) is not None:
                unclean.append(f"bilge {' '.join(args)}: {why}: {result.stderr.strip()[-500:]}")
    attack.count("soak", "unclean errors", len(unclean))
    assert unclean == [], f"seed {SEED}:\n" + "\n".join(unclean)
    checked = attack.run(bilge_root, "check")
    assert checked.returncode == 0, f"seed {SEED}: {checked.stdout.decode()}{checked.stderr}"
    left = attack.ok(bilge_root, "ps", "-aq", "--no-trunc").stdout.decode().split()
    if left:
        attack.ok(bilge_root, "rm", "-f", *left)
