"""A build step's container: made from an image, run attached once, committed, removed.

The classic builder (store/build) runs each RUN in such a container, as Docker's does; the
running stays in this room. The command's output goes to our stdout and stderr as it comes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core import Store
from ..leases import Lease
from . import lifecycle, runtime
from .commit import commit_config
from .records import CreateOptions


@dataclass(frozen=True)
class Ran:
    """The command's exit code, the committed image when it succeeded, and the container it ran in."""

    exit_code: int
    image_id: str | None
    container_id: str = ""


def run_step(
    store: Store,
    image_id: str,
    argv: list[str],
    env: list[str],
    config: dict[str, Any],
    recorded: dict[str, Any],
    lease: Lease,
    created: Callable[[str], None] | None = None,
) -> Ran:
    """Run `argv` in a container of `image_id` (its user, working directory and environment,
    plus `env`); on success commit the changes as a child image whose Config is `config` and
    whose container config is `recorded` (what the build cache compares), held by the build's
    `lease`. `created` hears the container's ID before it starts (Docker's "Running in")."""
    found = runtime.find(None)
    opts = CreateOptions(image=image_id, command=argv, env=env, entrypoint="", network="host")
    container = store.containers.create(opts, os.path.basename(found), hold=lease)
    if created is not None:
        created(container.id)
    try:
        launched = lifecycle.start(store, container, attach=True, interactive=False)
        code = lifecycle.wait_attached(store, launched)
        if code != 0:
            return Ran(code, None, container.id)
        finished = lifecycle.refresh(store, container)
        assert finished is not None
        return Ran(0, commit_config(store, finished, config, lease, recorded=recorded), container.id)
    finally:
        lifecycle.remove(store, container, force=True)
