"""Prune plans (gc.prune.plan over gc.policy): which images and containers a prune takes and
exactly how many bytes that frees.

Docker's part: dangling images by default, every unused image with -a, the until=/label=/label!=
filters, untagged parents going with their last child. bilge's part: --keep N per repository,
--unused-for, --min-age, LRU down to --max-size and from a high to a low disk watermark. Over
all of them: pins, label pins, live leases and containers keep their images, and the bytes a
plan announces are exactly the sizes of the layers it lists (never image sizes added up).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from toygraph import DAY, T0, Toy

from bilge.gc.policy import Disk, Filters, ImagePolicy, prune_containers
from bilge.gc.prune import Plan, Request, plan
from bilge.store.errors import InvalidInput

NOW = T0 + 10 * DAY


@pytest.fixture
def toy(tmp_path: Path) -> Toy:
    return Toy(tmp_path / "store")


def prune(
    toy: Toy,
    policy: ImagePolicy | None = None,
    containers: Filters | None = None,
    disk: Disk | None = None,
    now: float = NOW,
    allowed: Plan | None = None,
) -> Plan:
    request = Request("image prune", containers=containers, images=policy if policy else ImagePolicy())
    return plan(toy.graph(), request, now, disk, allowed)


def names(toy: Toy, p: Plan) -> tuple[set[str], set[str]]:
    return toy.names(p.images), toy.names(p.layers, "layer")


def layer_sum(toy: Toy, chains: list[str], column: str = "size") -> int:
    """The plan's bytes recomputed from the layer rows themselves."""
    return sum(toy.db.execute(f"SELECT {column} FROM layers WHERE chain_id = ?", [c]).fetchone()[0] for c in chains)


def assert_bytes_exact(toy: Toy, p: Plan) -> None:
    assert p.layer_bytes == layer_sum(toy, p.layers)
    assert p.layer_disk == layer_sum(toy, p.layers, "disk")
    assert p.bytes == p.layer_bytes + p.container_bytes
    assert p.disk == p.layer_disk + p.container_disk


def docker_mix(toy: Toy) -> None:
    """Every kind of image Docker's prune tells apart, on a shared 1000-byte base layer."""
    base = toy.image("base", toy.stack(("b", 1000)), tags=("base:1",))
    toy.image("app", toy.stack(("b", 1000), ("a", 10)), parent=base, tags=("app:1",))
    toy.image("dangle", toy.stack(("b", 1000), ("d", 100)), parent=base)
    mid = toy.image("mid", toy.stack(("b", 1000), ("m", 200)), parent=base)
    toy.image("leaf", toy.stack(("b", 1000), ("m", 200), ("l", 300)), parent=mid)
    mid2 = toy.image("mid2", toy.stack(("b", 1000), ("n", 20)), parent=base)
    toy.image("kid2", toy.stack(("b", 1000), ("n", 20), ("k", 30)), parent=mid2, tags=("kid2:1",))
    toy.digest(toy.image("pulled", toy.stack(("g", 400))), "pulled")


# -- Docker's candidates -------------------------------------------------------------------------


def test_dangling_by_default(toy: Toy) -> None:
    """Untagged leaves go, with the untagged parent they leave childless; an intermediate under a
    tagged child stays; tagged images and images named by a digest stay."""
    docker_mix(toy)
    p = prune(toy)
    assert names(toy, p) == ({"dangle", "leaf", "mid"}, {"d", "l", "m"})
    assert p.images.index(toy.image_ids["leaf"]) < p.images.index(toy.image_ids["mid"]), "children first"
    assert (p.layer_bytes, p.untagged, p.containers) == (600, [], [])
    assert_bytes_exact(toy, p)


@pytest.mark.xfail(
    strict=True,
    reason="Docker's image prune deletes an image whose only references are digests (no tag: "
    "daemon/images/image_prune.go deletes when no reference is NamedTagged), and lists it under "
    "dangling=true; bilge's Catalog.dangling counts digests as names, so a pulled-by-digest image is never pruned",
)
def test_an_image_named_only_by_a_digest_is_dangling(toy: Toy) -> None:
    docker_mix(toy)
    assert "pulled" in names(toy, prune(toy))[0]


def test_all_takes_every_image_without_a_container(toy: Toy) -> None:
    docker_mix(toy)
    toy.container("c", toy.image_ids["app"], state="exited", size_rw=5)
    p = prune(toy, ImagePolicy(all=True))
    # app has a container; base is app's parent, so the mark keeps it too (Docker refuses it as well).
    assert names(toy, p) == ({"dangle", "mid", "leaf", "mid2", "kid2", "pulled"}, {"d", "m", "l", "n", "k", "g"})
    assert sorted(p.untagged) == ["kid2:1"]
    assert (p.layer_bytes, p.container_bytes) == (100 + 200 + 300 + 20 + 30 + 400, 0)
    assert_bytes_exact(toy, p)


def test_all_without_containers_takes_the_shared_base_once(toy: Toy) -> None:
    docker_mix(toy)
    p = prune(toy, ImagePolicy(all=True))
    assert len(p.images) == 8 and len(p.layers) == 8
    assert p.layer_bytes == 1000 + 10 + 100 + 200 + 300 + 20 + 30 + 400
    assert_bytes_exact(toy, p)


def test_nothing_to_prune_is_an_empty_plan(toy: Toy) -> None:
    toy.image("app", toy.stack("a"), tags=("app:1",))
    p = prune(toy)
    assert (p.images, p.layers, p.bytes, bool(p)) == ([], [], 0, False)


def test_orphan_layers_are_swept_by_any_prune(toy: Toy) -> None:
    """A layer no image or live lease holds (an interrupted load) is garbage to every plan."""
    toy.image("app", toy.stack("a"), tags=("app:1",))
    stray = toy.layer("stray", size=77)
    toy.lease(("layer", toy.layer("held", size=88)))
    p = prune(toy)
    assert (p.images, p.layers, p.layer_bytes, bool(p)) == ([], [stray], 77, True)


# -- Docker's filters ----------------------------------------------------------------------------


def labelled(toy: Toy) -> None:
    toy.image("plain", toy.stack(("p", 1)))
    toy.image("env-prod", toy.stack(("e1", 2)), labels={"env": "prod"})
    toy.image("env-dev", toy.stack(("e2", 4)), labels={"env": "dev"})
    toy.image("env-dev-keep", toy.stack(("e3", 8)), labels={"env": "dev", "keep": "yes"})


@pytest.mark.parametrize(
    ("filters", "taken"),
    [
        ([], {"plain", "env-prod", "env-dev", "env-dev-keep"}),
        (["label=env"], {"env-prod", "env-dev", "env-dev-keep"}),
        (["label=env=dev"], {"env-dev", "env-dev-keep"}),
        (["label=env=dev", "label=keep"], {"env-dev-keep"}),
        (["label!=env"], {"plain"}),
        (["label!=env=dev"], {"plain", "env-prod"}),
        (["label=env", "label!=keep"], {"env-prod", "env-dev"}),
        (["label=nope"], set()),
    ],
)
def test_label_filters(toy: Toy, filters: list[str], taken: set[str]) -> None:
    labelled(toy)
    assert names(toy, prune(toy, ImagePolicy(filters=Filters.parse(filters, NOW))))[0] == taken


@pytest.mark.xfail(
    strict=True,
    reason="Docker's matchLabels skips an image only when it matches ALL label!= filters "
    "(MatchKVList); Filters.admit skips it when it matches ANY of them",
)
def test_several_not_label_filters_exclude_only_images_matching_all(toy: Toy) -> None:
    labelled(toy)
    got = names(toy, prune(toy, ImagePolicy(filters=Filters.parse(["label!=env=dev", "label!=keep"], NOW))))[0]
    assert got == {"plain", "env-prod", "env-dev"}


def test_until_takes_images_created_before(toy: Toy) -> None:
    toy.image("old", toy.stack("o"), created=NOW - 3 * DAY)
    toy.image("new", toy.stack("n"), created=NOW - 1 * DAY)
    toy.image("undated", toy.stack("u"), created=None)
    for value in ("48h", "2d", str(int(NOW - 2 * DAY))):
        assert names(toy, prune(toy, ImagePolicy(filters=Filters.parse([f"until={value}"], NOW))))[0] == {"old"}, value


@pytest.mark.parametrize("item", ["until=", "until=soon", "dangling=true", "label", "labels=x", "=x"])
def test_invalid_filters(item: str) -> None:
    with pytest.raises(InvalidInput, match="invalid"):
        Filters.parse([item], NOW)


@pytest.mark.xfail(
    strict=True,
    reason="Docker refuses two until= filters ('more than one until filter specified'); Filters.parse keeps the last",
)
def test_two_until_filters_are_refused() -> None:
    with pytest.raises(InvalidInput):
        Filters.parse(["until=24h", "until=48h"], NOW)


def test_container_prune_takes_every_container_not_running(toy: Toy) -> None:
    app = toy.image("app", toy.stack("a"), tags=("app:1",))
    toy.container("up", app, state="running", created=NOW - 5 * DAY)
    toy.container("old", app, state="exited", created=NOW - 5 * DAY, labels={"team": "x"})
    toy.container("new", app, state="created", created=NOW - DAY)
    graph = toy.graph()
    ids = toy.container_ids
    assert prune_containers(graph, Filters()) == [ids["old"], ids["new"]], "oldest first"
    assert prune_containers(graph, Filters.parse(["until=48h"], NOW)) == [ids["old"]]
    assert prune_containers(graph, Filters.parse(["label=team=x"], NOW)) == [ids["old"]]
    assert prune_containers(graph, Filters.parse(["label!=team"], NOW)) == [ids["new"]]


def test_container_prune_spares_a_build_steps_container_while_its_lease_lives(toy: Toy) -> None:
    """Between a RUN's exit and its commit the step's container is stopped: its build's lease holds it."""
    app = toy.image("app", toy.stack("a"), tags=("app:1",))
    step = toy.container("step", app, state="exited")
    lapsed = toy.container("lapsed", app, state="exited")
    toy.lease(("container", step))
    toy.lease(("container", lapsed), live=False)
    assert prune_containers(toy.graph(), Filters()) == [lapsed]


def test_system_prune_frees_the_images_of_the_containers_it_takes(toy: Toy) -> None:
    """Stopped containers go first; the images only they used become unused, for -a."""
    used = toy.image("used", toy.stack(("u", 100)), tags=("used:1",))
    busy = toy.image("busy", toy.stack(("r", 200)), tags=("busy:1",))
    toy.container("stopped", used, state="exited", size_rw=30, disk_rw=4096)
    toy.container("running", busy, state="running", size_rw=50)
    p = prune(toy, ImagePolicy(all=True), containers=Filters())
    assert p.containers == [toy.container_ids["stopped"]]
    assert names(toy, p) == ({"used"}, {"u"})
    assert (p.container_bytes, p.container_disk, p.bytes, p.disk) == (30, 4096, 130, 4196)
    assert p.untagged == ["used:1"]
    assert_bytes_exact(toy, p)


# -- roots every policy respects -----------------------------------------------------------------


def test_pins_leases_and_containers_keep_images_from_any_policy(toy: Toy) -> None:
    pinned = toy.image("pinned", toy.stack(("p", 1)), added=T0)
    toy.pin(pinned)
    toy.image("label-pinned", toy.stack(("q", 2)), labels={"bilge.pin": "true"}, added=T0)
    leased = toy.image("leased", toy.stack(("r", 4)), added=T0)
    toy.lease(("image", leased))
    lapsed = toy.image("lapsed", toy.stack(("s", 8)), added=T0)
    toy.lease(("image", lapsed), live=False)
    toy.container("c", toy.image("contained", toy.stack(("t", 16)), added=T0), state="created")
    toy.image("free", toy.stack(("u", 32)), added=T0)
    policies = [
        ImagePolicy(),
        ImagePolicy(all=True),
        ImagePolicy(all=True, unused_for=DAY),
        ImagePolicy(all=True, max_size=0),
        ImagePolicy(all=True, high=50, low=0),
    ]
    for policy in policies:
        p = prune(toy, policy, disk=Disk(total=100, used=90, free=10))
        assert names(toy, p) == ({"lapsed", "free"}, {"s", "u"}), policy
        assert p.layer_bytes == 40


def test_exclude_keeps_images_whose_names_match_a_reference_pattern(toy: Toy) -> None:
    """As `images --filter reference=` matches: the repository, or repository:tag; `*` stops at `/`."""
    docker_mix(toy)
    toy.image("deep", toy.stack(("z", 5)), tags=("registry.example.com/base/alpine:3",))
    toy.image("deeper", toy.stack(("y", 6)), tags=("registry.example.com/base/x/y:1",))
    p = prune(toy, ImagePolicy(all=True, exclude=["kid2:1", "registry.example.com/base/*"]))
    assert names(toy, p)[0] == {"app", "dangle", "leaf", "mid", "pulled", "deeper"}, "kid2 keeps mid2 and base"
    assert_bytes_exact(toy, p)
    everything = prune(toy, ImagePolicy(all=True, exclude=["nothing-matches*"]))
    assert names(toy, everything)[0] == names(toy, prune(toy, ImagePolicy(all=True)))[0]


# -- bilge's policies ----------------------------------------------------------------------------


def releases(toy: Toy) -> None:
    """web:1..3 made a day apart, api:1, and an image tagged in both repositories."""
    for n in (1, 2, 3):
        toy.image(f"web{n}", toy.stack(("w", 1000), (f"w{n}", 10 * n)), created=T0 + n * DAY, tags=(f"web:{n}",))
    toy.image("api1", toy.stack(("api", 5)), created=T0, tags=("api:1",))
    toy.image("both", toy.stack(("both", 7)), created=T0 + 0.5 * DAY, tags=("web:old", "api:2"))
    toy.image("dangling", toy.stack(("x", 3)), created=T0 + 9 * DAY)


@pytest.mark.parametrize(
    ("keep", "taken"),
    [
        (0, {"web1", "web2", "web3", "api1", "both", "dangling"}),
        (1, {"web1", "web2", "api1", "dangling"}),  # "both" is api's newest
        (2, {"web1", "dangling"}),  # web's two newest are 3 and 2; api keeps both of its images
        (3, {"dangling"}),
    ],
)
def test_keep_newest_per_repository(toy: Toy, keep: int, taken: set[str]) -> None:
    releases(toy)
    assert names(toy, prune(toy, ImagePolicy(all=True, keep=keep)))[0] == taken


def test_keep_frees_the_shared_base_only_with_its_last_user(toy: Toy) -> None:
    releases(toy)
    p = prune(toy, ImagePolicy(all=True, keep=1))
    assert toy.names(p.layers, "layer") == {"w1", "w2", "api", "x"}
    assert p.layer_bytes == 10 + 20 + 5 + 3


def test_unused_for_runs_on_last_use_else_arrival(toy: Toy) -> None:
    toy.image("stale", toy.stack("s"), added=NOW - 30 * DAY, last_used=NOW - 8 * DAY, tags=("s:1",))
    toy.image("used", toy.stack("u"), added=NOW - 30 * DAY, last_used=NOW - DAY, tags=("u:1",))
    toy.image("never-used-old", toy.stack("o"), added=NOW - 9 * DAY, tags=("o:1",))
    toy.image("never-used-new", toy.stack("n"), added=NOW - 2 * DAY, tags=("n:1",))
    p = prune(toy, ImagePolicy(all=True, unused_for=7 * DAY))
    assert names(toy, p)[0] == {"stale", "never-used-old"}


def test_min_age_is_a_grace_period_on_arrival(toy: Toy) -> None:
    """A just-loaded untagged image is dangling, but may be about to be tagged: spare it."""
    toy.image("fresh", toy.stack("f"), added=NOW - 60)
    toy.image("settled", toy.stack("s"), added=NOW - 7200)
    assert names(toy, prune(toy, ImagePolicy(min_age=3600)))[0] == {"settled"}
    assert names(toy, prune(toy, ImagePolicy()))[0] == {"fresh", "settled"}


def lru_store(toy: Toy) -> None:
    """Three images on one 10000-byte base with 100 unique bytes each, used in the order 1, 2, 3;
    one unrelated image of 500 used last; a 50-byte writable layer of a running container."""
    for n in (1, 2, 3):
        toy.image(
            f"img{n}", toy.stack(("base", 10_000), (f"u{n}", 100)), last_used=NOW - (10 - n) * DAY, tags=(f"i{n}:1",)
        )
    solo = toy.image("solo", toy.stack(("solo", 500)), last_used=NOW - DAY, tags=("solo:1",))
    toy.container("c", solo, state="running", size_rw=50)


def test_max_size_counts_a_shared_layer_once(toy: Toy) -> None:
    """Store: 10000 + 300 + 500 layers + 50 writable = 10850; under 10700 means freeing 150.

    Adding up image sizes (kubelet's mistake) would call img1 alone 10100 bytes and stop there,
    freeing 100; counted from the graph, img1 and img2 are needed (their unique 100 each)."""
    lru_store(toy)
    p = prune(toy, ImagePolicy(all=True, max_size=10_700))
    assert names(toy, p) == ({"img1", "img2"}, {"u1", "u2"})
    assert p.layer_bytes == 200
    assert_bytes_exact(toy, p)


def test_max_size_frees_the_base_with_its_last_user(toy: Toy) -> None:
    lru_store(toy)
    p = prune(toy, ImagePolicy(all=True, max_size=1000))
    # img1..3 go in LRU order; solo has a running container and is never a candidate.
    assert names(toy, p) == ({"img1", "img2", "img3"}, {"u1", "u2", "u3", "base"})
    assert p.layer_bytes == 10_300


def test_max_size_already_met_takes_nothing(toy: Toy) -> None:
    lru_store(toy)
    p = prune(toy, ImagePolicy(all=True, max_size=10_850))
    assert (p.images, p.layers) == ([], [])


def test_lru_order_follows_last_use_not_creation(toy: Toy) -> None:
    toy.image("made-first-used-last", toy.stack(("a", 100)), created=T0, last_used=NOW - DAY, tags=("a:1",))
    toy.image(
        "made-last-used-first", toy.stack(("b", 100)), created=T0 + 5 * DAY, last_used=NOW - 5 * DAY, tags=("b:1",)
    )
    p = prune(toy, ImagePolicy(all=True, max_size=150))
    assert names(toy, p)[0] == {"made-last-used-first"}


def watermark_store(toy: Toy) -> None:
    """Three unrelated images whose layers take 1000, 2000, 4000 allocated bytes, LRU in that order."""
    for n, disk in enumerate((1000, 2000, 4000), 1):
        chain = [toy.layer(f"w{n}", size=disk // 2, disk=disk)]
        toy.image(f"img{n}", chain, last_used=NOW - (10 - n) * DAY, tags=(f"w{n}:1",))


@pytest.mark.parametrize(
    ("used", "taken"),
    [
        (79_999, set()),  # below the high watermark: nothing
        (80_000, {"img1", "img2"}),  # at 80% of 100000: down to 77% frees 3000 = w1 + w2 (disk bytes)
        (80_500, {"img1", "img2", "img3"}),  # 3500 needed: w1 + w2 is 3000, so w3 too
    ],
)
def test_high_low_watermarks(toy: Toy, used: int, taken: set[str]) -> None:
    watermark_store(toy)
    p = prune(toy, ImagePolicy(all=True, high=80, low=77), disk=Disk(total=100_000, used=used, free=100_000 - used))
    assert names(toy, p)[0] == taken
    assert p.layer_disk == sum({"img1": 1000, "img2": 2000, "img3": 4000}[n] for n in taken)
    assert_bytes_exact(toy, p)


def test_high_without_low_prunes_down_to_high(toy: Toy) -> None:
    watermark_store(toy)
    p = prune(toy, ImagePolicy(all=True, high=80), disk=Disk(total=100_000, used=81_000, free=19_000))
    assert names(toy, p)[0] == {"img1"}


def test_watermarks_need_the_disk(toy: Toy) -> None:
    watermark_store(toy)
    with pytest.raises(InvalidInput, match="disk watermarks need"):
        prune(toy, ImagePolicy(all=True, high=80, low=70), disk=None)


def test_a_confirmed_plan_never_grows(toy: Toy) -> None:
    """What the prompt showed bounds what runs, even if more became prunable meanwhile."""
    toy.image("one", toy.stack(("o", 1)))
    shown = prune(toy)
    toy.image("two", toy.stack(("t", 2)))
    assert names(toy, prune(toy))[0] == {"one", "two"}
    again = prune(toy, allowed=shown)
    assert names(toy, again) == ({"one"}, {"o"}) and again.layer_bytes == 1
