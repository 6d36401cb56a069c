"""The sweep deletes exactly what the mark leaves unmarked (rule 3), on random graphs.

Each example draws a small store: a forest of layers (some sharing a tar-split), images over
any chain in it with arbitrary parent links, names, pins (row and label), containers in every
state, live and lapsed leases on images and on layers; then a random set of images and
containers to let go. The expected survivors come from a reference mark written here from
the drawn description alone (never Graph.mark), so a slip in the collector's walk, its roots
or its row and file bookkeeping shows up as a difference.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toygraph import Toy, exists

from bilge.store import trash
from bilge.store.db import write
from bilge.store.layers import layer_dir_name, link_name


@dataclass
class Drawn:
    """A graph as indices: everything the reference mark needs, independent of the store."""

    layer_parent: list[int | None]
    layer_tarsplit: list[int]
    image_top: list[int | None]  # None: an image with no layers
    image_parent: list[int | None]
    image_tags: list[int]
    image_digest: list[bool]
    image_pin_row: list[bool]
    image_pin_label: list[bool]
    containers: list[tuple[int, str]]  # (image, state)
    leases: list[tuple[str, int, bool]]  # (kind, index, live)
    doomed_images: set[int] = field(default_factory=set)
    doomed_containers: set[int] = field(default_factory=set)

    def chain(self, image: int) -> list[int]:
        """Layer indices of an image, bottom first: its top layer and that layer's ancestors."""
        out: list[int] = []
        node = self.image_top[image]
        while node is not None:
            out.append(node)
            node = self.layer_parent[node]
        return out[::-1]


@st.composite
def drawn_graphs(draw: st.DrawFn) -> Drawn:
    n_layers = draw(st.integers(0, 9))
    layer_parent = [draw(st.none() | st.integers(0, i - 1)) if i else None for i in range(n_layers)]
    layer_tarsplit = [draw(st.integers(0, 3)) for _ in range(n_layers)]
    n_images = draw(st.integers(0, 7))
    layer_index = st.none() | st.integers(0, n_layers - 1) if n_layers else st.none()
    image_top = [draw(layer_index) for _ in range(n_images)]
    image_parent = [draw(st.none() | st.integers(0, i - 1)) if i else None for i in range(n_images)]
    flags = st.lists(st.booleans(), min_size=n_images, max_size=n_images)
    image_tags = draw(st.lists(st.integers(0, 2), min_size=n_images, max_size=n_images))
    image_digest, pin_row, pin_label = draw(flags), draw(flags), draw(flags)
    states = st.sampled_from(["running", "exited", "created"])
    containers = draw(st.lists(st.tuples(st.integers(0, n_images - 1), states), max_size=4)) if n_images else []
    lease_targets = []
    if n_images:
        lease_targets.append(st.tuples(st.just("image"), st.integers(0, n_images - 1), st.booleans()))
    if n_layers:
        lease_targets.append(st.tuples(st.just("layer"), st.integers(0, n_layers - 1), st.booleans()))
    leases = draw(st.lists(st.one_of(lease_targets), max_size=3)) if lease_targets else []
    doomed_images = draw(st.sets(st.integers(0, n_images - 1))) if n_images else set()
    doomed_containers = draw(st.sets(st.integers(0, len(containers) - 1))) if containers else set()
    return Drawn(
        layer_parent,
        layer_tarsplit,
        image_top,
        image_parent,
        image_tags,
        image_digest,
        pin_row,
        pin_label,
        containers,
        leases,
        doomed_images,
        doomed_containers,
    )


def reference_mark(g: Drawn) -> tuple[set[int], set[int]]:
    """Breadth-first from the roots: kept images, surviving containers' images, pins, live leases;
    image -> parent image; marked image -> its chain; layer -> parent layer."""
    kept_containers = [img for k, (img, _) in enumerate(g.containers) if k not in g.doomed_containers]
    images = [i for i in range(len(g.image_top)) if i not in g.doomed_images]
    images += kept_containers
    images += [i for i in range(len(g.image_top)) if g.image_pin_row[i] or g.image_pin_label[i]]
    images += [i for kind, i, live in g.leases if kind == "image" and live]
    marked_images: set[int] = set()
    queue = list(images)
    while queue:
        i = queue.pop(0)
        if i in marked_images:
            continue
        marked_images.add(i)
        parent = g.image_parent[i]
        if parent is not None:
            queue.append(parent)
    queue = [layer for i in marked_images for layer in g.chain(i)]
    queue += [i for kind, i, live in g.leases if kind == "layer" and live]
    marked_layers: set[int] = set()
    while queue:
        layer = queue.pop(0)
        if layer in marked_layers:
            continue
        marked_layers.add(layer)
        below = g.layer_parent[layer]
        if below is not None:
            queue.append(below)
    return marked_images, marked_layers


def build(toy: Toy, g: Drawn) -> tuple[list[str], list[str], list[str]]:
    """The drawn graph as rows and files; returns (layer chain IDs, image IDs, container IDs) by index."""
    chains: list[str] = []
    for i, parent in enumerate(g.layer_parent):
        chains.append(
            toy.layer(
                f"L{i}", chains[parent] if parent is not None else None, 100 + i, tarsplit=f"T{g.layer_tarsplit[i]}"
            )
        )
    images: list[str] = []
    for i in range(len(g.image_top)):
        labels = {"bilge.pin": "true"} if g.image_pin_label[i] else None
        up = g.image_parent[i]
        images.append(
            toy.image(
                f"I{i}", [chains[c] for c in g.chain(i)], parent=images[up] if up is not None else None, labels=labels
            )
        )
        for t in range(g.image_tags[i]):
            toy.tag(images[i], f"r{i}:t{t}")
        if g.image_digest[i]:
            toy.digest(images[i], f"r{i}")
        if g.image_pin_row[i]:
            toy.pin(images[i])
    containers = [toy.container(f"c{k}", images[img], state=state) for k, (img, state) in enumerate(g.containers)]
    for kind, index, live in g.leases:
        toy.lease((kind, images[index] if kind == "image" else chains[index]), live=live)
    return chains, images, containers


def count(toy: Toy, sql: str, ids: list[str]) -> int:
    return sum(toy.db.execute(sql, [i]).fetchone()[0] for i in ids)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where the examples' stores live. The trash deletes with up to DELETERS rm(1)s at once;
    for a handful of paths one is as good, and spawning one per tree is most of the run."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trash, "DELETERS", 1)
        yield tmp_path_factory.mktemp("sweep-property")


@settings(
    max_examples=75,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(g=drawn_graphs())
def test_sweep_deletes_exactly_the_unmarked(scratch: Path, g: Drawn) -> None:
    with tempfile.TemporaryDirectory(dir=scratch) as root:
        toy = Toy(Path(root) / "store")
        try:
            check_sweep(toy, g)
        finally:
            toy.store.close()


def check_sweep(toy: Toy, g: Drawn) -> None:
    chains, images, containers = build(toy, g)
    want_images, want_layers = reference_mark(g)
    dead_images = [images[i] for i in range(len(images)) if i not in want_images]
    dead_layers = [chains[i] for i in range(len(chains)) if i not in want_layers]
    live_images = [images[i] for i in sorted(want_images)]
    live_layers = [chains[i] for i in sorted(want_layers)]
    tarsplit = {c: toy.store.layers.get(c)["tarsplit"] for c in chains}
    names_sql = (
        "SELECT (SELECT COUNT(*) FROM tags WHERE image_id = ?1) + (SELECT COUNT(*) FROM digests WHERE image_id = ?1)"
        " + (SELECT COUNT(*) FROM pins WHERE image_id = ?1) + (SELECT COUNT(*) FROM image_layers WHERE image_id = ?1)"
    )
    live_refs_before = count(toy, names_sql, live_images)

    doomed_images = {images[i] for i in g.doomed_images}
    doomed_containers = {containers[k] for k in g.doomed_containers}
    swept = toy.sweep(doomed_images, doomed_containers)

    # Rows: what went is exactly the unmarked, what stayed exactly the marked.
    assert sorted(swept.images) == sorted(dead_images)
    assert sorted(swept.layers) == sorted(dead_layers)
    assert toy.images() == set(live_images)
    assert toy.layers() == set(live_layers)
    assert count(toy, names_sql, dead_images) == 0, "names, pins and chains go with their image"
    assert count(toy, names_sql, live_images) == live_refs_before, "a survivor keeps every name, pin and chain row"
    # Docker's order: a child before its parent, a layer before the one under it.
    for order, parent_of in (
        (swept.images, {images[i]: images[p] for i, p in enumerate(g.image_parent) if p is not None}),
        (swept.layers, {chains[i]: chains[p] for i, p in enumerate(g.layer_parent) if p is not None}),
    ):
        position = {node: n for n, node in enumerate(order)}
        for node in order:
            if parent_of.get(node) in position:
                assert position[node] < position[parent_of[node]]

    # Files: exactly the swept rows' files are gone (the trash ran inside toy.sweep).
    for chain in chains:
        directory = toy.root / "layers" / layer_dir_name(chain)
        link = toy.root / "layers" / "l" / link_name(chain)
        assert exists(directory) == exists(link) == (chain in live_layers), chain
        if chain in live_layers:
            assert (link / "file").read_bytes() == b"x" * 7
    surviving_tarsplits = {tarsplit[c] for c in live_layers}
    for digest in set(tarsplit.values()):
        assert exists(toy.blob(digest)) == (digest in surviving_tarsplits), "a tar-split goes with its last layer"
    for image_id in images:
        assert exists(toy.blob(image_id)) == (image_id in live_images)
    assert toy.db.execute("SELECT COUNT(*) FROM trash_log").fetchone()[0] == 0
    assert list((toy.root / "trash").iterdir()) == []


def test_reference_mark_is_not_vacuous(tmp_path: Path) -> None:
    """One drawn graph checked by hand, so the reference mark above is known to mark and not mark."""
    g = Drawn(
        layer_parent=[None, 0, 0, None],
        layer_tarsplit=[0, 1, 1, 2],
        image_top=[0, 1, 2],
        image_parent=[None, 0, 0],
        image_tags=[0, 1, 0],
        image_digest=[False, False, False],
        image_pin_row=[False, False, False],
        image_pin_label=[False, False, False],
        containers=[(2, "exited")],
        leases=[("layer", 3, True)],
        doomed_images={0, 1, 2},
        doomed_containers=set(),
    )
    assert reference_mark(g) == ({0, 2}, {0, 2, 3})
    toy = Toy(tmp_path / "store")
    check_sweep(toy, g)
    assert toy.images() == {toy.image_ids["I0"], toy.image_ids["I2"]}
    # Layers 1 and 2 shared tar-split T1: layer 2 survives, so the blob stays.
    assert exists(toy.blob(toy.store.layers.get(toy.layer_ids["L2"])["tarsplit"]))


def test_sweep_rolls_back_with_its_transaction(tmp_path: Path) -> None:
    """The sweep runs in the caller's transaction: if the caller fails after it, nothing went."""
    from bilge.gc.graph import Graph
    from bilge.gc.sweep import sweep

    toy = Toy(tmp_path / "store")
    image = toy.image("one", toy.stack("a"))
    with pytest.raises(RuntimeError), write(toy.db):
        sweep(toy.store, Graph.load(toy.db), {image})
        raise RuntimeError("caller fails after the sweep")
    toy.store.trash.finish()
    assert toy.images() == {image} and toy.layers() == {toy.layer_ids["a"]}
    assert all(exists(p) for p in toy.layer_files(toy.layer_ids["a"]))
    assert exists(toy.blob(image))
