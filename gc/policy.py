"""What a prune may take: Docker's candidates and filters, then the policies Docker lacks.

Everything here is a pure function of the graph and the clock, so a dry run, the prompt
and the sweep (which re-plans inside its write transaction) all agree.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from bilge.store.catalog import ImageRecord
from bilge.store.errors import InvalidInput
from bilge.store.listing import reference_matches

from .buildcache import BuildCache
from .graph import Graph
from .units import parse_until


@dataclass
class Filters:
    """Docker's prune filters: until=, label=, label!=."""

    until: float | None = None
    labels: list[str] = field(default_factory=list)
    not_labels: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, items: list[str], now: float) -> Filters:
        out = cls()
        for item in items:
            key, sep, value = item.partition("=")
            if not sep or not value:
                raise InvalidInput(f"invalid filter {item!r} (supported: until=, label=, label!=)")
            if key == "until":
                out.until = parse_until(value, now)
            elif key == "label":
                out.labels.append(value)
            elif key == "label!":
                out.not_labels.append(value)
            else:
                raise InvalidInput(f"invalid filter {item!r} (supported: until=, label=, label!=)")
        return out

    def admit(self, created: float | None, labels: dict[str, str]) -> bool:
        if self.until is not None and (created is None or created >= self.until):
            return False
        if not all(_has_label(labels, want) for want in self.labels):
            return False
        return not any(_has_label(labels, unwanted) for unwanted in self.not_labels)


def _has_label(labels: dict[str, str], spec: str) -> bool:
    key, sep, value = spec.partition("=")
    return key in labels and (not sep or labels[key] == value)


@dataclass
class ImagePolicy:
    """Which images a prune may take. `exclude` holds reference patterns (as `images --filter
    reference=` matches them) for images no prune takes, matched against their tags: a scheduled
    policy's pins by name."""

    all: bool = False
    filters: Filters = field(default_factory=Filters)
    keep: int | None = None
    unused_for: float | None = None
    min_age: float | None = None
    max_size: int | None = None
    high: float | None = None
    low: float | None = None
    exclude: list[str] = field(default_factory=list)

    def excludes(self, image: ImageRecord) -> bool:
        return any(reference_matches(self.exclude, repo, tag) for repo, tag in image.tags)


@dataclass
class CachePolicy:
    """`builder prune`: every reclaimable entry (the untagged results and the intermediates under
    them: with the classic builder all of them are dangling, so Docker's `-a` takes no more);
    `until` spares entries built since; `keep_storage` spares the newest entries while the cache
    that remains is within that many bytes."""

    until: float | None = None
    keep_storage: int | None = None

    @classmethod
    def parse(cls, filters: list[str], keep_storage: int | None, now: float) -> CachePolicy:
        """Docker's builder prune filters; bilge knows until= (a duration or a timestamp)."""
        out = cls(keep_storage=keep_storage)
        for item in filters:
            key, sep, value = item.partition("=")
            if key != "until" or not sep or not value:
                raise InvalidInput(f"invalid filter {item!r} (supported: until=)")
            out.until = parse_until(value, now)
        return out


@dataclass(frozen=True)
class Disk:
    """The store's file system, as psutil.disk_usage reports it."""

    total: int
    used: int
    free: int


def prune_containers(graph: Graph, filters: Filters) -> list[str]:
    """Every container not running, as `docker container prune` takes them (but a build step's,
    which its build's lease holds until the step is committed)."""
    return sorted(
        (
            c.id
            for c in graph.containers.values()
            if c.state != "running" and not c.leased and filters.admit(c.created, c.labels)
        ),
        key=lambda cid: graph.containers[cid].created,
    )


def prune_images(
    graph: Graph, policy: ImagePolicy, now: float, disk: Disk | None, doomed_containers: AbstractSet[str] = frozenset()
) -> dict[str, str]:
    """The images to remove, each with why, in the order the policy chose them (least recently
    used first, ties oldest first; untagged parents that go with their children last). The
    caller removes them children first."""
    in_use = {c.image_id for c in graph.containers.values() if c.id not in doomed_containers}
    kept = in_use | {img.id for img in graph.images.values() if policy.excludes(img)}
    candidates = [
        img
        for img in graph.images.values()
        if img.id not in kept
        and not img.pinned
        and not img.leased
        and (policy.all or graph.dangling(img))
        and policy.filters.admit(img.created, img.labels)
        and (policy.min_age is None or img.added <= now - policy.min_age)
        and (policy.unused_for is None or img.used_at <= now - policy.unused_for)
    ]
    if policy.keep is not None:
        kept = _newest_per_repository(graph, policy.keep)
        candidates = [img for img in candidates if img.id not in kept]
    candidates.sort(key=lambda img: (img.used_at, img.created or 0, img.id))
    target = _bytes_to_free(graph, policy, disk, doomed_containers)
    chosen = candidates if target is None else _least_recently_used(graph, candidates, *target, doomed_containers)
    why = {img.id: _why(graph, img, policy, target is not None, now) for img in chosen}
    for parent in sorted(with_orphaned_parents(graph, set(why), kept) - set(why)):
        why[parent] = "untagged parent of an image that goes"
    return why


def _why(graph: Graph, img: ImageRecord, policy: ImagePolicy, evicted: bool, now: float) -> str:
    """The rule that chose the image, as a person reads it: the narrowest that applies."""
    from bilge.store.tables import ago, human_size

    if evicted:
        used = f"last used {ago(img.last_used, now)}" if img.last_used else f"unused since added {ago(img.added, now)}"
        goal = f"the store under {human_size(policy.max_size, 4)}" if policy.max_size is not None else "the disk"
        return f"least recently used ({used}), to bring {goal}"
    if policy.keep is not None and img.tags:
        return f"older than the newest {policy.keep} of its repository"
    if policy.unused_for is not None:
        since = f"last used {ago(img.last_used, now)}" if img.last_used else f"never used, added {ago(img.added, now)}"
        return f"unused ({since})"
    reason = "dangling" if graph.dangling(img) else "unused (no container uses it)"
    if policy.filters.until is not None:
        reason += f", created {ago(img.created, now)}"
    return reason


def _newest_per_repository(graph: Graph, keep: int) -> set[str]:
    by_repo: dict[str, list[ImageRecord]] = {}
    for img in graph.images.values():
        for repo in {repo for repo, _ in img.tags}:
            by_repo.setdefault(repo, []).append(img)
    kept: set[str] = set()
    for images in by_repo.values():
        images.sort(key=lambda i: (i.created or 0, i.added), reverse=True)
        kept.update(i.id for i in images[:keep])
    return kept


def _bytes_to_free(
    graph: Graph, policy: ImagePolicy, disk: Disk | None, doomed_containers: AbstractSet[str]
) -> tuple[int, bool] | None:
    """(bytes, counted as disk) the size policies want back; None when no size policy applies."""
    needs: list[tuple[int, bool]] = []
    if policy.max_size is not None:
        store = sum(layer.size for layer in graph.layers.values())
        store += sum(c.size_rw for c in graph.containers.values() if c.id not in doomed_containers)
        needs.append((max(0, store - policy.max_size), False))
    if policy.high is not None:
        if disk is None:
            raise InvalidInput("disk watermarks need the store's file system usage")
        low = policy.low if policy.low is not None else policy.high
        if disk.used * 100 >= policy.high * disk.total:
            needs.append((max(0, disk.used - int(disk.total * low / 100)), True))
        else:
            needs.append((0, True))
    if not needs:
        return None
    return max(needs, key=lambda n: n[0])


def _least_recently_used(
    graph: Graph, candidates: list[ImageRecord], need: int, as_disk: bool, doomed_containers: AbstractSet[str]
) -> list[ImageRecord]:
    """The shortest LRU prefix whose removal frees `need` bytes, counted exactly from the graph.

    A layer is freed when the last image holding it goes (kubelet's mistake is to add up
    image sizes, counting shared layers again for every image).
    """
    if need <= 0:
        return []
    holders: dict[str, int] = {}
    for img in graph.images.values():
        for chain in img.chain:
            holders[chain] = holders.get(chain, 0) + 1
    # Layers that a surviving container, a pin or a lease holds whatever goes.
    kept_by_root = graph.mark(set(), set(graph.containers) - doomed_containers)[1]
    freed = 0
    chosen: list[ImageRecord] = []
    for img in candidates:
        chosen.append(img)
        for chain in img.chain:
            holders[chain] -= 1
            if holders[chain] == 0 and chain not in kept_by_root:
                layer = graph.layers[chain]
                freed += layer.disk if as_disk else layer.size
        if freed >= need:
            break
    return chosen


def prune_build_cache(
    graph: Graph, policy: CachePolicy, doomed_containers: AbstractSet[str] = frozenset()
) -> list[str]:
    """The cache entries to remove, children before parents. The mark still decides: an
    intermediate goes only with every image built on it."""
    cache = BuildCache.of(graph, doomed_containers)
    built = {i: graph.images[i].built_at or 0.0 for i in cache.reclaimable}
    candidates = sorted(
        (i for i in cache.reclaimable if policy.until is None or built[i] < policy.until),
        key=lambda i: (built[i], i),
    )
    if policy.keep_storage is not None:
        candidates = _oldest_beyond(graph, cache, candidates, policy.keep_storage, doomed_containers)
    return children_first(graph, set(candidates))


def _oldest_beyond(
    graph: Graph, cache: BuildCache, oldest_first: list[str], keep: int, doomed_containers: AbstractSet[str]
) -> list[str]:
    """The shortest oldest-first prefix after which the cache's size is within `keep` bytes
    (all of them when none is). What a prefix frees is counted by the mark, so an old entry a
    newer one stands on frees nothing until that one goes too; that only grows with the prefix,
    so the shortest is found by bisection."""
    size, _ = cache.size()

    def remaining(n: int) -> int:
        freed = graph.garbage(set(oldest_first[:n]), doomed_containers)[1] & cache.layers
        return size - graph.layer_bytes(freed)[0]

    low, high = 0, len(oldest_first)
    while low < high:
        middle = (low + high) // 2
        if remaining(middle) <= keep:
            high = middle
        else:
            low = middle + 1
    return oldest_first[:low]


def with_orphaned_parents(graph: Graph, doomed: set[str], in_use: set[str]) -> set[str]:
    """Docker's prune-parents: an untagged parent goes too once all its children go."""
    changed = True
    while changed:
        changed = False
        for image_id in list(doomed):
            parent = graph.images[image_id].parent
            node = graph.images.get(parent) if parent else None
            if (
                node
                and node.id not in doomed
                and not node.named
                and node.id not in in_use
                and not node.pinned
                and not node.leased
                and all(child in doomed for child in graph.children.get(node.id, []))
            ):
                doomed.add(node.id)
                changed = True
    return doomed


def children_first(graph: Graph, doomed: AbstractSet[str]) -> list[str]:
    """Deepest first, so no image goes before an image built on it (however long the chain)."""
    depth: dict[str, int] = {}
    for image_id in doomed:
        path = []
        current: str | None = image_id
        while current in graph.images and current not in depth:
            path.append(current)
            current = graph.images[current].parent
        below = depth.get(current, -1) if current is not None else -1
        for node in reversed(path):
            below += 1
            depth[node] = below
    return sorted(doomed, key=lambda i: (-depth[i], i))
