"""Seeded crash injection: SIGKILL at random moments of load, pull, commit, rmi, image prune,
system prune and `run --rm` (runc), then prove the store survived.

After every kill: `bilge check` finds nothing but what a crash may leave (a dead command's
lease, its scratch, files whose row never got written), never a row without its files; the
pinned images that were tagged before and are no command's target still `save` to the same
bytes; and once `check --repair` has run, `check` passes. The seed is printed (in the summary
and in any failure); `BILGE_ATTACK_SEED` replays a run, `BILGE_ATTACK_KILLS` sets the kills per
command (25 by default: 175 in all).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import attack
from containers_support import FIXTURE_IMAGES, needs_containers

from bilge.fabricate import Image, docker_archive, layer_tar

SEED = int(os.environ.get("BILGE_ATTACK_SEED") or random.SystemRandom().randrange(1 << 32))
KILLS = int(os.environ.get("BILGE_ATTACK_KILLS", "25"))
WITNESSES = ("busybox:latest", "app:v1", "zoo:latest")
TARGET = "attack/target:latest"
KEEPER = "attack-keeper"  # the container that commit commits, made once


def target_archive() -> bytes:
    """Three layers of 30 files (~1.8 MB): enough work for a kill to land inside it."""
    return docker_archive(
        [Image([TARGET], [layer_tar(f"crash-{n}", {f"d{n}/f{i}": 20_000 for i in range(30)}) for n in range(3)])]
    )


@dataclass
class Scenario:
    """A command to kill, what it needs before it starts, and the argv."""

    name: str
    args: Callable[[int], list[str]]
    prepare: Callable[[Path], None]


def _present(root: Path, ref: str) -> bool:
    return attack.run(root, "image", "inspect", ref).returncode == 0


def _ensure_target(archive: Path) -> Callable[[Path], None]:
    def prepare(root: Path) -> None:
        if not _present(root, TARGET):
            attack.ok(root, "load", "-q", "-i", str(archive))

    return prepare


def _without_target(root: Path) -> None:
    attack.run(root, "rmi", "-f", TARGET)  # 1 when it is not there: fine


def _ensure_keeper(root: Path) -> None:
    if attack.run(root, "container", "inspect", KEEPER).returncode != 0:
        attack.ok(root, "run", "--name", KEEPER, "busybox:latest", "sh", "-c", "seq 1 40000 > /numbers; mkdir -p /d")


def _no_leftovers(root: Path) -> None:
    """Remove what a killed `run --rm` left (its container, perhaps still running), not the keeper."""
    found = attack.run(root, "container", "inspect", KEEPER)
    keeper = json.loads(found.stdout)[0]["Id"] if found.returncode == 0 else None
    left = [c for c in attack.ok(root, "ps", "-aq", "--no-trunc").stdout.decode().split() if c != keeper]
    if left:
        attack.ok(root, "rm", "-f", *left)


def scenarios(archive: Path, pull_ref: str) -> list[Scenario]:
    ensure = _ensure_target(archive)
    return [
        Scenario("load", lambda n: ["load", "-q", "-i", str(archive)], _without_target),
        Scenario("pull", lambda n: ["pull", "-q", pull_ref], _without_target),
        Scenario("commit", lambda n: ["commit", KEEPER, f"attack/commit:{n}"], _ensure_keeper),
        Scenario("rmi", lambda n: ["rmi", TARGET], ensure),
        Scenario("image prune", lambda n: ["image", "prune", "-a", "-f"], ensure),
        Scenario("system prune", lambda n: ["system", "prune", "-a", "-f"], ensure),
        Scenario(
            "run --rm", lambda n: ["run", "--rm", "busybox:latest", "sh", "-c", "seq 1 20000 > /n"], _no_leftovers
        ),
    ]


def saved(root: Path, refs: tuple[str, ...] = WITNESSES) -> dict[str, str]:
    return {ref: hashlib.sha256(attack.ok(root, "save", ref).stdout).hexdigest() for ref in refs}


def test_sigkill_at_random_moments_leaves_a_store_check_passes(
    bilge_root: Path, tmp_path: Path, fixtures_dir: Path, registry
) -> None:
    needs_containers()
    attack.warm()
    rng = random.Random(SEED)
    attack.count("crash", "seed", SEED)
    root = bilge_root
    archive = tmp_path / "target.tar"
    archive.write_bytes(target_archive())
    registry.copy_in(f"docker-archive:{archive}:{TARGET}", "attack/target:latest")
    pull_ref = registry.ref("attack/target:latest")

    attack.ok(root, "load", "-q", "-i", str(fixtures_dir / FIXTURE_IMAGES))
    attack.ok(root, "pin", *WITNESSES)
    want = saved(root)
    plan = scenarios(archive, pull_ref)
    durations = {}
    for scenario in plan:  # one uncut run each: how long a kill may wait
        scenario.prepare(root)
        start = time.monotonic()
        attack.ok(root, *scenario.args(0))
        durations[scenario.name] = time.monotonic() - start
    attack.ok(root, "check")

    rounds = [s for s in plan for _ in range(KILLS)]
    rng.shuffle(rounds)
    killed = 0
    for n, scenario in enumerate(rounds, 1):
        where = f"seed {SEED} (BILGE_ATTACK_SEED={SEED}), round {n}: {scenario.name}"
        scenario.prepare(root)
        fraction = rng.random()
        child = attack.Child(root, scenario.args(n))
        time.sleep(fraction * durations[scenario.name])
        if not child.kill():
            attack.count("crash", f"{scenario.name}: done before the kill")
            durations[scenario.name] *= 0.8  # the uncut run was slower than this state's: aim earlier
            assert child.result().returncode == 0, f"{where}: {child.result().stderr}"
            continue
        killed += 1
        phase = ("early", "middle", "late")[min(int(fraction * 3), 2)]
        attack.count("crash", f"{scenario.name}: killed {phase}")
        debris, inconsistencies = attack.findings(root)
        attack.count("crash", "inconsistencies", len(inconsistencies))
        assert inconsistencies == [], f"{where}: check found {inconsistencies}"
        if debris:
            attack.count("crash", "repaired after a kill")
            attack.ok(root, "check", "--repair")
            attack.ok(root, "check")
        witness = WITNESSES[n % len(WITNESSES)]  # one a round, all at the end: saves cost
        assert saved(root, (witness,)) == {witness: want[witness]}, f"{where}: {witness} no longer saves the same"
    attack.count("crash", "kills", killed)
    assert killed >= len(rounds) // 2, f"seed {SEED}: only {killed} of {len(rounds)} kills landed"
    assert attack.run(root, "check").returncode == 0
    assert saved(root) == want
    _no_leftovers(root)  # no container left running at teardown
