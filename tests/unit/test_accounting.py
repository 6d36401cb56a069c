"""Size accounting (gc.accounting.image_usage) and the catalog's shared definitions.

Per top-level image: SIZE (its layers), SHARED (layers another top-level image also uses),
UNIQUE (the rest: what rmi of that image alone frees) and FAIR SHARE (each layer split
evenly among its users). Fair shares must add up to the bytes of the layers top-level images
use, which Docker's columns do not. "Dangling" and "top level" are defined once, in the
catalog, for images, df and the collector alike.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from toygraph import Toy

from bilge.gc.accounting import image_usage
from bilge.store.catalog import Catalog


@pytest.fixture
def toy(tmp_path: Path) -> Toy:
    return Toy(tmp_path / "store")


def build(toy: Toy) -> None:
    """base <- app1, app2, dangling; base <- mid (untagged intermediate) <- kid; disk = 4 x size."""
    sizes = {"b": 1000, "a1": 10, "a2": 20, "m": 200, "k": 300, "d": 5}

    def chain(*names: str) -> list[str]:
        out: list[str] = []
        for name in names:
            out.append(toy.layer(name, out[-1] if out else None, size=sizes[name], disk=4 * sizes[name]))
        return out

    base = toy.image("base", chain("b"), tags=("base:1",))
    toy.image("app1", chain("b", "a1"), parent=base, tags=("app1:1",))
    toy.image("app2", chain("b", "a2"), parent=base, tags=("app2:1", "app2:2"))
    mid = toy.image("mid", chain("b", "m"), parent=base)
    toy.image("kid", chain("b", "m", "k"), parent=mid, tags=("kid:1",))
    toy.image("dangling", chain("b", "d"), parent=base)


def test_size_shared_unique_fair_share(toy: Toy) -> None:
    build(toy)
    usage = image_usage(Catalog.load(toy.db))
    got = {
        toy.names([i]).pop(): (u.size, u.shared, u.unique, u.fair_share, u.disk, u.shared_disk)
        for i, u in usage.items()
    }
    # b is used by the five top-level images; mid (an intermediate) is not listed and not counted.
    assert got == {
        "base": (1000, 1000, 0, 200, 4000, 4000),
        "app1": (1010, 1000, 10, 210, 4040, 4000),
        "app2": (1020, 1000, 20, 220, 4080, 4000),
        "kid": (1500, 1000, 500, 700, 6000, 4000),
        "dangling": (1005, 1000, 5, 205, 4020, 4000),
    }


def test_fair_shares_add_up_to_the_layers_in_use(toy: Toy) -> None:
    build(toy)
    usage = image_usage(Catalog.load(toy.db))
    total = sum(size for size in (1000, 10, 20, 200, 300, 5))
    assert sum(u.fair_share for u in usage.values()) == total
    # Docker's columns do not add up: SIZE counts the base five times.
    assert sum(u.size for u in usage.values()) == total + 4 * 1000


def test_fair_shares_are_whole_bytes_that_add_up_exactly(toy: Toy) -> None:
    """A 1000-byte layer among three images is 334 + 333 + 333, never 333 three times."""
    for name in ("x", "y", "z"):
        toy.image(name, toy.stack(("shared", 1000), (f"own-{name}", 7)), tags=(f"{name}:1",))
    usage = image_usage(Catalog.load(toy.db))
    assert sorted(u.fair_share for u in usage.values()) == [340, 340, 341]
    assert sum(u.fair_share for u in usage.values()) == 1000 + 3 * 7


def test_unique_is_what_removing_that_image_alone_frees(toy: Toy) -> None:
    """UNIQUE of each top-level image equals what the collector's garbage() says its removal frees
    (with the untagged parent it would leave orphaned, as rmi takes it)."""
    build(toy)
    graph = toy.graph()
    usage = image_usage(graph)
    ids = toy.image_ids
    for name, doomed in {
        "app1": {ids["app1"]},
        "app2": {ids["app2"]},
        "kid": {ids["kid"], ids["mid"]},
        "dangling": {ids["dangling"]},
    }.items():
        _, layers = graph.garbage(doomed)
        assert graph.layer_bytes(layers)[0] == usage[ids[name]].unique, name


def test_layers_shared_only_with_an_intermediate_are_unique(toy: Toy) -> None:
    """kid's layer m is also in mid's chain, but mid is not listed: m counts as kid's own."""
    build(toy)
    kid = image_usage(Catalog.load(toy.db))[toy.image_ids["kid"]]
    assert (kid.shared, kid.unique) == (1000, 500)


def test_an_empty_store(toy: Toy) -> None:
    assert image_usage(Catalog.load(toy.db)) == {}


def test_dangling_and_top_level(toy: Toy) -> None:
    """Docker's words: dangling = no name and no child; top level (listed without -a) = named or
    no child. An untagged image with a child is an intermediate: neither."""
    tagged = toy.image("tagged", toy.stack("t"), tags=("t:1",))
    toy.image("tagged-child", toy.stack("t", "c"), parent=tagged, tags=("c:1",))
    toy.image("untagged-leaf", toy.stack("u"))
    mid = toy.image("intermediate", toy.stack("i"))
    toy.image("child-of-intermediate", toy.stack("i", "j"), parent=mid, tags=("j:1",))
    toy.digest(toy.image("digest-only", toy.stack("d")), "pulled")
    catalog = Catalog.load(toy.db)
    table = {
        toy.names([i]).pop(): (catalog.dangling(img), catalog.top_level(img), img.named)
        for i, img in catalog.images.items()
    }
    assert table == {
        "tagged": (False, True, True),
        "tagged-child": (False, True, True),
        "untagged-leaf": (True, True, False),
        "intermediate": (False, False, False),
        "child-of-intermediate": (False, True, True),
        "digest-only": (False, True, True),
    }
    assert catalog.children == {tagged: [toy.image_ids["tagged-child"]], mid: [toy.image_ids["child-of-intermediate"]]}


def test_catalog_reads_every_reference(toy: Toy) -> None:
    app = toy.image(
        "app",
        toy.stack(("x", 3), ("y", 4)),
        created=1_600_000_000.5,
        added=1_700_000_000.0,
        last_used=1_700_000_100.0,
        tags=("app:2", "app:1", "registry.example:5000/team/app:1"),
        labels={"k": "v"},
    )
    manifest = toy.digest(app, "app")
    toy.container("a", app, state="running", size_rw=11)
    toy.container("b", app, state="exited")
    toy.pin(app)
    toy.lease(("layer", toy.layer_ids["y"]))
    catalog = Catalog.load(toy.db)
    img = catalog.images[app]
    assert img.chain == [toy.layer_ids["x"], toy.layer_ids["y"]]
    assert img.tags == [("app", "1"), ("app", "2"), ("registry.example:5000/team/app", "1")]
    assert img.digests == [("app", manifest)]
    assert (img.containers, img.running, img.pinned, img.leased) == (2, 1, True, False)
    assert (img.created, img.added, img.last_used, img.used_at, img.labels) == (
        1_600_000_000.5,
        1_700_000_000.0,
        1_700_000_100.0,
        1_700_000_100.0,
        {"k": "v"},
    )
    assert (catalog.layers[toy.layer_ids["y"]].leased, catalog.layers[toy.layer_ids["x"]].leased) == (True, False)
    assert img.size == 7
    assert catalog.containers[toy.container_ids["a"]].size_rw == 11


def test_used_at_falls_back_to_arrival(toy: Toy) -> None:
    app = toy.image("app", toy.stack("a"), added=123.0, last_used=None)
    assert Catalog.load(toy.db).images[app].used_at == 123.0
