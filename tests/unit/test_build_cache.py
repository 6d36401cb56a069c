"""Build cache (gc/buildcache.py): which built images are cache, which of them are in use, the
exact bytes, `builder prune` through the prune machinery, and what `system df` reports.

The graph most tests draw is what two builds of an app and one abandoned build leave:

    base:1 [b]                         pulled, not built
      s1   RUN   [b r1]                built; in use (app:1 stands on it)
        s2 LABEL [b r1]                built, metadata only; in use
          app:1  COPY [b r1 c1]        built and tagged: an image, not cache
          s4     COPY [b r1 c2]        built, untagged result (the tag moved on)
      t1   RUN   [b x1]                built, reclaimable intermediate; x1 is also other:1's
        t2 RUN   [b x1 x2]             built, untagged result
    other:1 [b x1]                     pulled, not built

Sizes: b 1000, r1 100, c1 10, c2 20, x1 300, x2 400; each layer's disk is 4 x its size.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toygraph import T0, Toy, exists

from bilge.gc.buildcache import BuildCache
from bilge.gc.policy import CachePolicy, Filters, ImagePolicy
from bilge.gc.prune import Plan, Request, execute, plan, preview
from bilge.reports.df import summary, system_df
from bilge.reports.render_df import render
from bilge.store.db import write
from bilge.store.errors import InvalidInput, NotFound

SIZES = {"b": 1000, "r1": 100, "c1": 10, "c2": 20, "x1": 300, "x2": 400}


@pytest.fixture
def toy(tmp_path: Path) -> Toy:
    return Toy(tmp_path / "store")


def chain(toy: Toy, *names: str) -> list[str]:
    out: list[str] = []
    for name in names:
        out.append(toy.layer(name, out[-1] if out else None, size=SIZES[name], disk=4 * SIZES[name]))
    return out


def builds(toy: Toy) -> dict[str, str]:
    base = toy.image("base", chain(toy, "b"), tags=("base:1",))
    step = {"built": True, "created": None}
    s1 = toy.image("s1", chain(toy, "b", "r1"), parent=base, added=T0 + 1, created_by="RUN make", **step)
    s2 = toy.image("s2", chain(toy, "b", "r1"), parent=s1, added=T0 + 2, created_by="LABEL v=1", **step)
    toy.image("app", chain(toy, "b", "r1", "c1"), parent=s2, added=T0 + 3, tags=("app:1",), **step)
    toy.image("s4", chain(toy, "b", "r1", "c2"), parent=s2, added=T0 + 4, created_by="COPY . /", **step)
    t1 = toy.image("t1", chain(toy, "b", "x1"), parent=base, added=T0 + 5, **step)
    toy.image("t2", chain(toy, "b", "x1", "x2"), parent=t1, added=T0 + 6, **step)
    toy.image("other", chain(toy, "b", "x1"), tags=("other:1",))
    return toy.image_ids


def names(toy: Toy, ids: set[str] | frozenset[str] | list[str]) -> set[str]:
    return toy.names(set(ids))


def run_plan(toy: Toy, policy: CachePolicy) -> Plan:
    return plan(toy.graph(), Request("builder prune", cache=policy), T0 + 100, None)


# -- what is cache, and what of it is in use -----------------------------------------------------


def test_entries_in_use_and_reclaimable(toy: Toy) -> None:
    builds(toy)
    cache = BuildCache.of(toy.graph())
    assert names(toy, cache.entries) == {"s1", "s2", "s4", "t1", "t2"}  # app:1 is named, base and other not built
    assert names(toy, cache.in_use) == {"s1", "s2"}
    assert names(toy, cache.reclaimable) == {"s4", "t1", "t2"}
    assert {n for n in ("s1", "s2", "s4", "t1", "t2") if cache.result(toy.image_ids[n])} == {"s4", "t2"}


def test_a_name_decides_and_untagging_makes_cache_again(toy: Toy) -> None:
    ids = builds(toy)
    toy.db.execute("DELETE FROM tags WHERE image_id = ?", [ids["app"]])
    cache = BuildCache.of(toy.graph())
    assert names(toy, cache.entries) == {"s1", "s2", "app", "s4", "t1", "t2"}
    assert cache.in_use == frozenset()
    toy.digest(ids["app"], "app")  # a RepoDigest is a name too
    assert names(toy, BuildCache.of(toy.graph()).in_use) == {"s1", "s2"}


@pytest.mark.parametrize("root", ["lease", "pin", "container"])
def test_what_the_collector_keeps_is_in_use(toy: Toy, root: str) -> None:
    """A build in progress holds its steps by a lease; a pin or a container holds an image too:
    such an entry, and what it stands on, is in use, though nothing named descends from it."""
    ids = builds(toy)
    if root == "lease":
        toy.lease(("image", ids["t2"]))
    elif root == "pin":
        toy.pin(ids["t2"])
    else:
        toy.container("c", ids["t2"])
    cache = BuildCache.of(toy.graph())
    assert names(toy, cache.in_use) == {"s1", "s2", "t1", "t2"}
    assert names(toy, cache.reclaimable) == {"s4"}


def test_a_lapsed_lease_holds_nothing(toy: Toy) -> None:
    ids = builds(toy)
    toy.lease(("image", ids["t2"]), live=False)
    assert names(toy, BuildCache.of(toy.graph()).in_use) == {"s1", "s2"}


def test_own_layer_and_shared(toy: Toy) -> None:
    ids = builds(toy)
    cache = BuildCache.of(toy.graph())
    own = {n: cache.own_layer(ids[n]) for n in ("s1", "s2", "s4", "t1", "t2")}
    assert own == {
        "s1": toy.layer_ids["r1"],
        "s2": None,
        "s4": toy.layer_ids["c2"],
        "t1": toy.layer_ids["x1"],
        "t2": toy.layer_ids["x2"],
    }
    # r1 is in app:1's chain, x1 in other:1's: removing s1 or t1 could never free them.
    assert {n for n in own if cache.shared(ids[n])} == {"s1", "t1"}


# -- sizes, exact from the graph -------------------------------------------------------------------


def test_sizes_count_the_layers_only_cache_holds(toy: Toy) -> None:
    """c2 and x2: r1 is app:1's and x1 other:1's, b everyone's (adding up the reclaimable entries'
    image sizes would claim 1120 + 1300 + 1700)."""
    builds(toy)
    cache = BuildCache.of(toy.graph())
    assert cache.size() == (420, 1680)
    assert cache.reclaimable_bytes() == (420, 1680)


def test_what_a_lease_holds_is_cache_but_not_reclaimable(toy: Toy) -> None:
    ids = builds(toy)
    toy.lease(("image", ids["t2"]))
    cache = BuildCache.of(toy.graph())
    assert cache.size() == (420, 1680)
    assert cache.reclaimable_bytes() == (20, 80)


def test_without_build_cache(toy: Toy) -> None:
    toy.image("base", chain(toy, "b"))
    cache = BuildCache.of(toy.graph())
    assert (cache.entries, cache.in_use, cache.size(), cache.reclaimable_bytes()) == (
        frozenset(),
        frozenset(),
        (0, 0),
        (0, 0),
    )


# -- builder prune ---------------------------------------------------------------------------------


def test_builder_prune_takes_the_results_and_their_intermediates(toy: Toy) -> None:
    builds(toy)
    p = run_plan(toy, CachePolicy())
    assert names(toy, p.cache) == {"s4", "t1", "t2"}
    assert p.cache.index(toy.image_ids["t2"]) < p.cache.index(toy.image_ids["t1"])  # children first
    assert toy.names(p.layers, "layer") == {"c2", "x2"}
    assert (p.bytes, p.disk, p.images, p.untagged) == (420, 1680, [], [])


def test_until_keeps_what_was_built_since(toy: Toy) -> None:
    """until= spares t2 (built at T0+6); t1 (T0+5) is old enough but t2 stands on it."""
    builds(toy)
    p = run_plan(toy, CachePolicy(until=T0 + 5.5))
    assert names(toy, p.cache) == {"s4"}
    assert p.bytes == 20
    assert names(toy, run_plan(toy, CachePolicy(until=T0 + 6.5)).cache) == {"s4", "t1", "t2"}


@pytest.mark.parametrize(
    ("keep", "taken"),
    [
        (420, set()),  # already within
        (400, {"s4"}),  # the oldest reclaimable (20 bytes) is enough
        (399, {"s4", "t1", "t2"}),  # t1 frees nothing while t2 stands on it: both go
        (0, {"s4", "t1", "t2"}),
    ],
)
def test_keep_storage_takes_the_oldest_until_the_cache_fits(toy: Toy, keep: int, taken: set[str]) -> None:
    builds(toy)
    p = run_plan(toy, CachePolicy(keep_storage=keep))
    assert names(toy, p.cache) == taken
    assert 420 - p.bytes <= keep


def test_keep_storage_counts_a_shared_layer_once(toy: Toy) -> None:
    """Two old results share one 500-byte layer (the same step built twice): the cache is 500 bytes
    (plus x2 and c2), and freeing it takes both, not the first alone."""
    ids = builds(toy)
    twin = toy.layer("tw", toy.layer_ids["b"], size=500, disk=500)
    toy.image("u1", [toy.layer_ids["b"], twin], parent=ids["base"], built=True, added=T0 - 2, created_by="a")
    toy.image("u2", [toy.layer_ids["b"], twin], parent=ids["base"], built=True, added=T0 - 1, created_by="b")
    assert BuildCache.of(toy.graph()).size()[0] == 920
    p = run_plan(toy, CachePolicy(keep_storage=420))
    assert names(toy, p.cache) == {"u1", "u2"}
    assert p.bytes == 500


def test_builder_filters() -> None:
    assert CachePolicy.parse(["until=1h"], None, T0) == CachePolicy(until=T0 - 3600)
    for bad in ("label=a", "until", "until=", "dangling=true"):
        with pytest.raises(InvalidInput):
            CachePolicy.parse([bad], None, T0)


def test_a_confirmed_plan_never_grows(toy: Toy) -> None:
    builds(toy)
    shown = run_plan(toy, CachePolicy(until=T0 + 5.5))
    again = plan(toy.graph(), Request("builder prune", cache=CachePolicy()), T0 + 100, None, allowed=shown)
    assert again.cache == shown.cache


def test_the_sweep_after_builder_prune_is_the_plan(toy: Toy) -> None:
    """execute re-plans in its transaction and sweeps: rows and files go exactly as the dry run
    said, the freed bytes are the planned bytes, and the run is recorded."""
    builds(toy)
    request = Request("builder prune", cache=CachePolicy())
    shown = preview(toy.store, request)
    images, layers = toy.images(), toy.layers()
    outcome = execute(toy.store, request, allowed=shown)
    assert outcome.plan == shown
    assert toy.images() == images - set(shown.cache)
    assert toy.layers() == layers - set(shown.layers)
    assert (outcome.freed_bytes, outcome.freed_disk) == (shown.bytes, shown.disk) == (420, 1680)
    assert not toy.db.execute(
        "SELECT 1 FROM build_cache WHERE image_id IN (SELECT value FROM json_each(?))", [json.dumps(shown.cache)]
    ).fetchone()
    for chain_id in shown.layers:
        assert not any(exists(path) for path in toy.layer_files(chain_id))
    for image_id in shown.cache:
        assert not exists(toy.blob(image_id))
    run = toy.db.execute("SELECT command, removed, freed_bytes FROM gc_runs").fetchone()
    assert (run[0], json.loads(run[1])["cache"], run[2]) == ("builder prune", shown.cache, 420)
    assert names(toy, BuildCache.of(toy.graph()).entries) == {"s1", "s2"}


def test_system_prune_takes_the_build_cache_beyond_the_images_it_takes(toy: Toy) -> None:
    """With -a and a label filter, the image part takes only labelled images; the cache part, as
    Docker's, ignores labels and takes all reclaimable build cache."""
    builds(toy)
    filters = Filters.parse(["label=keep"], T0)
    request = Request(
        "system prune", containers=filters, images=ImagePolicy(all=True, filters=filters), cache=CachePolicy()
    )
    p = plan(toy.graph(), request, T0 + 100, None)
    assert (p.images, names(toy, p.cache), p.bytes) == ([], {"s4", "t1", "t2"}, 420)


def test_system_prune_lists_an_image_once(toy: Toy) -> None:
    """The dangling results are images the image part takes (their intermediates with them): the
    cache part does not list them again."""
    builds(toy)
    request = Request("system prune", images=ImagePolicy(), cache=CachePolicy())
    p = plan(toy.graph(), request, T0 + 100, None)
    assert (names(toy, p.images), p.cache) == ({"s4", "t1", "t2"}, [])


# -- record_built ----------------------------------------------------------------------------------


def test_record_built_is_idempotent_in_or_out_of_a_transaction(toy: Toy) -> None:
    image = toy.image("x", chain(toy, "b"))
    toy.store.images.record_built(image)
    first = toy.db.execute("SELECT created FROM build_cache WHERE image_id = ?", [image]).fetchone()[0]
    with write(toy.db):
        toy.store.images.record_built(image)
        toy.store.images.record_built(image)
    assert toy.db.execute("SELECT created FROM build_cache").fetchall() == [(first,)]
    assert toy.graph().images[image].built
    with pytest.raises(NotFound):
        toy.store.images.record_built("sha256:" + "0" * 64)


# -- system df ---------------------------------------------------------------------------------------


def test_df_build_cache_entries(toy: Toy) -> None:
    ids = builds(toy)
    df = system_df(toy.store)
    entries = {toy.names([e["ID"]]).pop(): e for e in df["BuildCache"]}
    assert [toy.names([e["ID"]]).pop() for e in df["BuildCache"]] == ["t2", "t1", "s4", "s2", "s1"]  # newest first
    s1, s2, t1 = entries["s1"], entries["s2"], entries["t1"]
    assert (s1["Parent"], s1["Type"], s1["Description"], s1["InUse"], s1["Shared"]) == (
        ids["base"],
        "regular",
        "RUN make",
        True,
        True,
    )
    assert (s1["Size"], s1["Disk"], s2["Size"], s2["Description"]) == (100, 400, 0, "LABEL v=1")
    assert (t1["InUse"], t1["Shared"], t1["Size"], t1["UsageCount"]) == (False, True, 300, 1)
    assert entries["t2"]["UsageCount"] == 0
    assert s1["CreatedAt"] == "2023-11-14T22:13:21Z"  # recorded at T0 + 1
    assert s1["LastUsedAt"] is None
    assert (df["BuilderSize"], df["BuilderDisk"], df["BuilderReclaimable"], df["BuilderReclaimableDisk"]) == (
        420,
        1680,
        420,
        1680,
    )
    row = summary(df)[3]
    assert row == {
        "Type": "Build Cache",
        "TotalCount": 5,
        "Active": 2,
        "Size": 420,
        "Reclaimable": 420,
        "PruneFrees": 420,
    }
    assert summary(df, disk=True)[3]["Size"] == 1680


def test_df_reclaimable_is_what_builder_prune_all_frees(toy: Toy) -> None:
    ids = builds(toy)
    toy.lease(("image", ids["t2"]))
    df = system_df(toy.store)
    p = run_plan(toy, CachePolicy())
    assert summary(df)[3]["Reclaimable"] == p.bytes == 20
    assert summary(df)[3]["Size"] == 420


def test_df_tables_show_the_build_cache(toy: Toy) -> None:
    builds(toy)
    df = system_df(toy.store)
    rows = render(df, verbose=False, disk=False, fmt="table").splitlines()
    assert rows[-1].split() == ["Build", "Cache", "5", "2", "420B", "420B", "420B"]  # Docker prints no share here
    verbose = render(df, verbose=True, disk=False, fmt="table")
    section = verbose.split("Build cache usage: 420B\n\n")[1].splitlines()
    assert section[0].split() == ["CACHE", "ID", "CACHE", "TYPE", "SIZE", "CREATED", "LAST", "USED", "USAGE", "SHARED"]
    by_id = {line.split()[0]: line.split() for line in section[1:]}
    s1 = toy.image_ids["s1"][7:19]
    assert by_id[s1 + "*"][1:3] == ["regular", "100B"]
    assert by_id[s1 + "*"][-2:] == ["1", "true"]
    assert "1.68kB" in render(df, verbose=True, disk=True, fmt="table").split("Build cache usage: ")[1].splitlines()[0]


def test_df_without_build_cache_is_as_before(toy: Toy) -> None:
    """No entry (a built image with a name is none): the keys, the row and the line Docker's
    fixtures have."""
    toy.image("app", chain(toy, "b"), tags=("app:1",), built=True)
    df = system_df(toy.store)
    assert df["BuildCache"] == [] and not any(key.startswith("Builder") for key in df)
    assert summary(df)[3] == {
        "Type": "Build Cache",
        "TotalCount": 0,
        "Active": 0,
        "Size": 0,
        "Reclaimable": 0,
        "PruneFrees": 0,
    }
    assert render(df, verbose=False, disk=False, fmt="table").splitlines()[-1].split() == [
        "Build",
        "Cache",
        "0",
        "0",
        "0B",
        "0B",
        "0B",
    ]
    assert render(df, verbose=True, disk=False, fmt="table").endswith("\n\nBuild cache usage: 0B")


# -- on random build graphs ------------------------------------------------------------------------


@dataclass
class Builds:
    """A forest of images as builds make them: each image its parent's chain plus, maybe, one layer
    (`content`: steps with the same content on the same chain make the same layer, as chain IDs
    do), and what may hold it."""

    parent: list[int | None]
    content: list[int | None]  # None: a metadata step
    built: list[bool]
    named: list[bool]
    held: list[bool]  # a pin or a live lease (a container holds as they do: the df cannot show a toy's)

    def subtree(self, i: int) -> set[int]:
        below = {i}
        for j in range(i + 1, len(self.parent)):
            if self.parent[j] in below:
                below.add(j)
        return below


@st.composite
def random_builds(draw: st.DrawFn) -> Builds:
    n = draw(st.integers(1, 8))
    flags = st.lists(st.booleans(), min_size=n, max_size=n)
    return Builds(
        [draw(st.none() | st.integers(0, i - 1)) if i else None for i in range(n)],
        [draw(st.none() | st.integers(0, 2)) for _ in range(n)],
        draw(flags),
        draw(st.lists(st.integers(0, 3).map(lambda k: k == 0), min_size=n, max_size=n)),
        draw(st.lists(st.integers(0, 4).map(lambda k: k == 0), min_size=n, max_size=n)),
    )


def make(toy: Toy, g: Builds) -> list[str]:
    chains: list[list[str]] = []
    ids: list[str] = []
    for i, parent in enumerate(g.parent):
        below = chains[parent] if parent is not None else []
        content = g.content[i]
        if content is None and not below:
            content = 0  # an image with no layer at all is not what a build makes
        top = below[-1] if below else ""
        layers = below + (
            [toy.layer(f"k{content}{top}", top or None, 10 ** (content + 1))] if content is not None else []
        )
        chains.append(layers)
        ids.append(
            toy.image(
                f"i{i}",
                layers,
                parent=ids[parent] if parent is not None else None,
                added=T0 + i,
                built=g.built[i],
                tags=(f"r{i}:t",) if g.named[i] else (),
            )
        )
        if g.held[i] and i % 2:
            toy.pin(ids[-1])
        elif g.held[i]:
            toy.lease(("image", ids[-1]))
    return ids


@settings(max_examples=60, derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=random_builds())
def test_builder_prune_all_on_random_builds(tmp_path_factory: pytest.TempPathFactory, g: Builds) -> None:
    """Against a reference written from the drawing alone: an entry goes exactly when it is built,
    unnamed, and nothing in its subtree is named, held or no build's; the sweep removes exactly
    the plan, frees exactly its bytes, and that is the df's RECLAIMABLE."""
    with tempfile.TemporaryDirectory(dir=tmp_path_factory.getbasetemp()) as root:
        toy = Toy(Path(root) / "store")
        try:
            ids = make(toy, g)
            keeps = [not g.built[i] or g.named[i] or g.held[i] for i in range(len(ids))]
            expected = {ids[i] for i in range(len(ids)) if not any(keeps[j] for j in g.subtree(i))}
            df = system_df(toy.store)
            request = Request("builder prune", cache=CachePolicy())
            shown = preview(toy.store, request)
            assert set(shown.cache) == expected
            images, layers = toy.images(), toy.layers()
            sizes = dict(toy.db.execute("SELECT chain_id, size FROM layers").fetchall())
            outcome = execute(toy.store, request, allowed=shown)
            assert toy.images() == images - expected
            assert layers - toy.layers() == set(shown.layers)
            kept_chains = {c for (c,) in toy.db.execute("SELECT chain_id FROM image_layers")}
            assert toy.layers() == kept_chains  # nothing left that no image holds
            assert outcome.freed_bytes == shown.bytes == sum(sizes[c] for c in shown.layers)
            assert summary(df)[3]["Reclaimable"] == shown.bytes
        finally:
            toy.store.close()
