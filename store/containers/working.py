"""A build step's container: made from an image, run attached once, committed, removed.

The classic builder (store/build) runs each RUN in such a container, as Docker's does; the
running stays in this room. The command's output goes to our stdout and stderr as it comes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..core import Store
from ..leases import Lease
from . import lifecycle, runtime
from .commit import commit_config
from .records import CreateOptions


@dataclass(frozen=True)
class Ran:
    """The command's exit code, and the committed image when it succeeded."""

    exit_code: int
    image_id: str | None


def run_step(
    store: Store,
    image_id: str,
    argv: list[str],
    env: list[str],
    config: dict[str, Any],
    recorded: dict[str, Any],
    lease: Lease,
) -> Ran:
    """Run `argv` in a container of `image_id` (its user, working directory and environment,
    plus `env`); on success commit the changes as a child image whose Config is `config` and
    whose container config is `recorded` (what the build cache compares), held by the build's
    `lease`."""
    found = runtime.find(None)
    opts = CreateOptions(image=image_id, command=argv, env=env, entrypoint="", network="host")
    container = store.containers.create(opts, os.path.basename(found), hold=lease)
    try:
        launched = lifecycle.start(store, container, attach=True, interactive=False)
        code = lifecycle.wait_attached(store, launched)
        if code != 0:
            return Ran(code, None)
        finished = lifecycle.refresh(store, container)
        assert finished is not None
        return Ran(0, commit_config(store, finished, config, lease=lease, recorded=recorded))
    finally:
        lifecycle.remove(store, container, force=True)
