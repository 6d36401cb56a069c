"""Mark and sweep on small drawn graphs, one root kind at a time (as containerd's gc_test.go).

`Graph.garbage(doomed_images, doomed_containers)` answers "what is unreachable once these go";
the roots are every image the caller keeps, images of surviving containers, pins (the table
and the bilge.pin=true label) and what live leases hold. Tags are not roots of the mark: they
protect an image through the prune policy (tests/unit/test_policies.py), not here.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from pathlib import Path

import pytest
from toygraph import Toy, exists


@pytest.fixture
def toy(tmp_path: Path) -> Toy:
    return Toy(tmp_path / "store")


def two_apps(toy: Toy) -> tuple[str, str, str]:
    """base <- app1 and base <- app2: one shared layer, one unique layer each; plus a base image."""
    base = toy.image("base", toy.stack("b"))
    app1 = toy.image("app1", toy.stack("b", "a1"), parent=base)
    app2 = toy.image("app2", toy.stack("b", "a2"), parent=base)
    return base, app1, app2


def garbage_names(toy: Toy, images: set[str], containers: AbstractSet[str] = frozenset()) -> tuple[set[str], set[str]]:
    dead_images, dead_layers = toy.graph().garbage(images, containers)
    return toy.names(dead_images), toy.names(dead_layers, "layer")


def test_nothing_doomed_leaves_only_orphan_layers(toy: Toy) -> None:
    """A layer no image, lease or child layer holds is garbage even when no image goes: it is
    what an interrupted load leaves behind once its lease lapses."""
    two_apps(toy)
    toy.layer("stray")
    toy.layer("stray-child", toy.layer_ids["stray"])
    assert garbage_names(toy, set()) == (set(), {"stray", "stray-child"})


def test_doomed_leaf_takes_its_unique_layer_only(toy: Toy) -> None:
    _, app1, _ = two_apps(toy)
    assert garbage_names(toy, {app1}) == ({"app1"}, {"a1"})


def test_parent_is_kept_by_a_kept_child(toy: Toy) -> None:
    """Dooming a parent whose child survives takes nothing: the child's parent link is a reference."""
    base, app1, app2 = two_apps(toy)
    assert garbage_names(toy, {base}) == (set(), set())
    assert garbage_names(toy, {base, app1}) == ({"app1"}, {"a1"})
    assert garbage_names(toy, {base, app1, app2}) == ({"base", "app1", "app2"}, {"b", "a1", "a2"})


def test_grandparent_is_kept_through_an_unnamed_middle(toy: Toy) -> None:
    g = toy.image("g", toy.stack("g"))
    m = toy.image("m", toy.stack("g", "m"), parent=g)
    toy.image("c", toy.stack("g", "m", "c"), parent=m)
    assert garbage_names(toy, {g, m}) == (set(), set())


def test_shared_layer_survives_while_any_image_uses_it(toy: Toy) -> None:
    """Two unrelated images (no parent link) built on the same bottom layer share its row."""
    one = toy.image("one", toy.stack(("shared", 500), ("x", 10)))
    two = toy.image("two", toy.stack(("shared", 500), ("y", 20)))
    assert toy.layer_ids["shared"] == toy.graph().images[one].chain[0] == toy.graph().images[two].chain[0]
    assert garbage_names(toy, {one}) == ({"one"}, {"x"})
    assert garbage_names(toy, {one, two}) == ({"one", "two"}, {"shared", "x", "y"})


@pytest.mark.parametrize("state", ["running", "exited", "created"])
def test_a_surviving_container_keeps_its_image(toy: Toy, state: str) -> None:
    """Whatever its state: a stopped container is restarted from its image's layers."""
    _, app1, _ = two_apps(toy)
    cid = toy.container("c", app1, state=state)
    assert garbage_names(toy, {app1}) == (set(), set())
    assert garbage_names(toy, {app1}, {cid}) == ({"app1"}, {"a1"})


def test_pin_row_is_a_root(toy: Toy) -> None:
    _, app1, _ = two_apps(toy)
    toy.pin(app1)
    assert garbage_names(toy, {app1}) == (set(), set())


@pytest.mark.parametrize(
    ("value", "pinned"), [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("false", False), ("", False)]
)
def test_pin_label_is_a_root(toy: Toy, value: str, pinned: bool) -> None:
    labelled = toy.image("labelled", toy.stack("l"), labels={"bilge.pin": value})
    assert toy.graph().images[labelled].pinned is pinned
    assert garbage_names(toy, {labelled}) == ((set(), set()) if pinned else ({"labelled"}, {"l"}))


def test_live_lease_on_an_image_is_a_root_and_an_expired_one_is_not(toy: Toy) -> None:
    _, app1, app2 = two_apps(toy)
    toy.lease(("image", app1), live=True)
    toy.lease(("image", app2), live=False)
    graph = toy.graph()
    assert (graph.images[app1].leased, graph.images[app2].leased) == (True, False)
    assert garbage_names(toy, {app1, app2}) == ({"app2"}, {"a2"})


def test_live_lease_on_a_layer_keeps_it_and_its_parents_but_no_image(toy: Toy) -> None:
    """A pull in progress holds the layers it has committed before any image row exists."""
    base, app1, app2 = two_apps(toy)
    top = toy.layer("pulling", toy.layer_ids["a1"])
    toy.lease(("layer", top))
    toy.lease(("layer", toy.layer_ids["a2"]), live=False)
    assert garbage_names(toy, {base, app1, app2}) == ({"base", "app1", "app2"}, {"a2"})


def test_lease_on_a_name_that_is_no_row_is_ignored(toy: Toy) -> None:
    """A lease records what it will make before making it; the ref may not exist yet."""
    _, app1, _ = two_apps(toy)
    toy.lease(("image", "sha256:" + "0" * 64), ("layer", "sha256:" + "1" * 64))
    assert garbage_names(toy, {app1}) == ({"app1"}, {"a1"})


def test_mark_from_explicit_roots(toy: Toy) -> None:
    """mark() with no kept images and no containers: only pins and leases hold anything."""
    base, app1, app2 = two_apps(toy)
    toy.pin(app2)
    graph = toy.graph()
    images, layers = graph.mark(set(), set())
    assert (toy.names(images), toy.names(layers, "layer")) == ({"app2", "base"}, {"b", "a2"})
    images, layers = graph.mark({app1}, set())
    assert (toy.names(images), toy.names(layers, "layer")) == ({"app1", "app2", "base"}, {"b", "a1", "a2"})


def test_depth_counts_layers_below(toy: Toy) -> None:
    chains = toy.stack("d0", "d1", "d2")
    graph = toy.graph()
    assert [graph.depth(c) for c in chains] == [0, 1, 2]


def test_sweep_deletes_rows_and_files_in_docker_order(toy: Toy) -> None:
    """Images go children first, layers top first (as `docker rmi` prints them), and each row's
    files go with it: layer directory, l/ link, tar-split, config."""
    base, app1, app2 = two_apps(toy)
    toy.tag(app2, "app2:latest")
    toy.digest(app1, "app1")
    toy.pin(base)
    swept = toy.sweep({base, app1})
    # base is pinned: only app1 and its unique layer go.
    assert swept.images == [app1]
    assert swept.layers == [toy.layer_ids["a1"]]
    assert toy.images() == {base, app2}
    assert toy.db.execute("SELECT COUNT(*) FROM digests").fetchone()[0] == 0, "digests go with the image row"
    assert toy.db.execute("SELECT COUNT(*) FROM image_layers WHERE image_id = ?", [app1]).fetchone()[0] == 0
    assert toy.db.execute("SELECT repository, tag FROM tags").fetchall() == [("docker.io/library/app2", "latest")]
    gone_dir, gone_link = toy.layer_files(toy.layer_ids["a1"])
    assert not exists(gone_dir) and not exists(gone_link)
    assert not exists(toy.blob(app1))
    for name in ("b", "a2"):
        kept_dir, kept_link = toy.layer_files(toy.layer_ids[name])
        assert (kept_dir / "diff" / "file").is_file() and (kept_link / "file").is_file()
    assert exists(toy.blob(base)) and exists(toy.blob(app2))
    assert toy.db.execute("SELECT COUNT(*) FROM trash_log").fetchone()[0] == 0
    assert list((toy.root / "trash").iterdir()) == []


def test_sweep_order_children_first_and_top_layers_first(toy: Toy) -> None:
    g = toy.image("g", toy.stack("g"))
    m = toy.image("m", toy.stack("g", "m"), parent=g)
    c = toy.image("c", toy.stack("g", "m", "c"), parent=m)
    swept = toy.sweep({g, m, c})
    assert swept.images == [c, m, g]
    assert swept.layers == [toy.layer_ids[n] for n in ("c", "m", "g")]


def test_tarsplit_shared_with_a_survivor_stays(toy: Toy) -> None:
    """Two layers with identical tar headers share one tar-split blob: it goes with the last."""
    a = toy.layer("a", tarsplit="same")
    b = toy.layer("b", tarsplit="same")
    one = toy.image("one", [a])
    two = toy.image("two", [b])
    blob = toy.blob(toy.store.layers.get(a)["tarsplit"])
    toy.sweep({one})
    assert exists(blob) and toy.layers() == {b}
    toy.sweep({two})
    assert not exists(blob) and toy.layers() == set()
