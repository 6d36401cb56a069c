"""What the container tests share: a store holding the fixture images, and clean-up that
leaves no container running and nothing mounted, whatever the test did.

Containers need root (overlayfs, namespaces) and a real OCI runtime: without them the tests
skip with the reason, except under CI=true, where they fail (`.ci/run` installs runc).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from components import fail_or_skip

DRIVERS = ["overlay", "vfs"]
FIXTURE_IMAGES = "docker/images.tar.gz"


def needs_containers() -> None:
    """Skip (fail under CI=true, as conftest's `require`) where containers cannot run: not root,
    or no runc where bilge itself looks for it."""
    from bilge.store.containers.runtime import RuntimeMissing, find

    reason = "running containers needs root (overlayfs, namespaces)" if os.geteuid() != 0 else None
    if reason is None:
        try:
            find("runc")
        except RuntimeMissing as exc:
            reason = str(exc)
    if reason is None:
        return
    fail_or_skip(reason)


@pytest.fixture
def ctr(bilge: Callable, bilge_root: Path, fixtures_dir: Path) -> Iterator[Callable]:
    """`bilge` over a store holding the fixture's images; at the end every container is removed
    (so none is left running) before the root's mounts are cleaned up."""
    needs_containers()
    bilge("load", "-q", "-i", fixtures_dir / FIXTURE_IMAGES)
    yield bilge
    left = bilge("ps", "-aq", "--no-trunc", check=False).stdout.split()
    if left:
        bilge("rm", "-f", *left, check=False)


def inspect(bilge: Callable, name: str, *flags: str) -> dict:
    return json.loads(bilge("inspect", *flags, name).stdout)[0]


def mounts_under(root: Path) -> list[str]:
    prefix = str(root).rstrip("/") + "/"
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(prefix)]


def image_size(bilge: Callable, image: str) -> int:
    return inspect(bilge, image)["Size"]
