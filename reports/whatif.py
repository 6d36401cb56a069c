"""What-if: what each standard prune would give back, side by side, exactly.

Every figure is the plan the prune itself would make (gc.prune.plan over the same Request its
command builds), from one load of the graph at one moment, so it equals what that command's
`--dry-run` prints and what the real prune then frees. Nothing is estimated or added up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bilge.gc.graph import Graph
from bilge.gc.policy import CachePolicy, Filters, ImagePolicy
from bilge.gc.prune import Request, disk_usage, plan, settle_containers
from bilge.store.core import Store

DAY = 86400.0


@dataclass(frozen=True)
class Scenario:
    name: str
    command: str  # the bilge command line whose prune this is
    images: int
    containers: int
    bytes: int
    disk: int
    cache: int = 0  # build-cache entries it takes beyond `images`
    layers: int = 0


def requests() -> list[tuple[str, str, Request]]:
    """(name, command line, the Request that command builds) for the standard policies."""
    return [
        ("dangling images", "bilge image prune", Request("image prune", images=ImagePolicy())),
        ("unused images", "bilge image prune -a", Request("image prune", images=ImagePolicy(all=True))),
        ("stopped containers", "bilge container prune", Request("container prune", containers=Filters())),
        (
            "unused for 7 days",
            "bilge image prune -a --unused-for 7d",
            Request("image prune", images=ImagePolicy(all=True, unused_for=7 * DAY)),
        ),
        (
            "unused for 30 days",
            "bilge image prune -a --unused-for 30d",
            Request("image prune", images=ImagePolicy(all=True, unused_for=30 * DAY)),
        ),
        (
            "keep 3 per repository",
            "bilge image prune --keep 3",
            Request("image prune", images=ImagePolicy(all=True, keep=3)),
        ),
        ("build cache", "bilge builder prune", Request("builder prune", cache=CachePolicy())),
        (
            "system prune",
            "bilge system prune",
            Request("system prune", containers=Filters(), images=ImagePolicy(), cache=CachePolicy()),
        ),
        (
            "system prune -a",
            "bilge system prune -a",
            Request("system prune", containers=Filters(), images=ImagePolicy(all=True), cache=CachePolicy()),
        ),
    ]


def request_named(name: str) -> Request:
    """The Request of one standard prune, by its name in `requests()`."""
    return next(request for known, _, request in requests() if known == name)


def what_if(store: Store, graph: Graph | None = None, now: float | None = None) -> list[Scenario]:
    """Each standard prune's plan, from one graph and one clock (pass `graph` when the caller
    has loaded it already, as a report does)."""
    if graph is None:
        settle_containers(store)
        graph = Graph.load(store.db)
    now = time.time() if now is None else now
    disk = disk_usage(store)
    scenarios = []
    for name, command, request in requests():
        p = plan(graph, request, now, disk, itemized=False)
        scenarios.append(
            Scenario(name, command, len(p.images), len(p.containers), p.bytes, p.disk, len(p.cache), len(p.layers))
        )
    return scenarios
