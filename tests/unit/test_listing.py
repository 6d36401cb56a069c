"""`bilge images` selection (store.listing): which images show, with which names, in which order.

Docker's rules: intermediates (untagged, with a child) only with -a; newest first; filters
dangling=, label=, reference= (Go's path.Match on the familiar name, with or without the tag;
it also narrows the names shown), before= and since= (by creation time of a named image).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from toygraph import DAY, T0, Toy

from bilge.store.errors import InvalidInput, NotFound
from bilge.store.listing import list_images, parse_filters


@pytest.fixture
def toy(tmp_path: Path) -> Toy:
    """Images made a day apart, oldest first: base, mid (intermediate), app, tool, dangling."""
    toy = Toy(tmp_path / "store")
    base = toy.image("base", toy.stack(("b", 100)), created=T0, tags=("base:1",), labels={"tier": "os"})
    mid = toy.image("mid", toy.stack(("b", 100), ("m", 20)), parent=base, created=T0 + DAY)
    toy.image(
        "app",
        toy.stack(("b", 100), ("m", 20), ("a", 3)),
        parent=mid,
        created=T0 + 2 * DAY,
        tags=("app:1", "app:2", "registry.example/team/app:1"),
        labels={"tier": "web", "owner": "me"},
    )
    toy.image("tool", toy.stack(("t", 4)), created=T0 + 3 * DAY, tags=("tools/tool:latest",))
    toy.image("dangling", toy.stack(("d", 5)), created=T0 + 4 * DAY)
    return toy


def listed(toy: Toy, show_all: bool = False, filters: list[str] | None = None) -> list[str]:
    return [toy.names([s.id]).pop() for s in list_images(toy.store, show_all, filters)]


def test_newest_first_and_intermediates_only_with_all(toy: Toy) -> None:
    assert listed(toy) == ["dangling", "tool", "app", "base"]
    assert listed(toy, show_all=True) == ["dangling", "tool", "app", "mid", "base"]


def test_summary_carries_names_and_size(toy: Toy) -> None:
    app = next(s for s in list_images(toy.store) if s.id == toy.image_ids["app"])
    assert app.size == 123
    assert app.repo_tags == [("app", "1"), ("app", "2"), ("registry.example/team/app", "1")]
    assert app.created == T0 + 2 * DAY


@pytest.mark.parametrize(
    ("filters", "want"),
    [
        (["dangling=true"], ["dangling"]),
        (["dangling=1"], ["dangling"]),
        (["dangling=false"], ["tool", "app", "base"]),
        (["label=tier"], ["app", "base"]),
        (["label=tier=web"], ["app"]),
        (["label=tier", "label=owner=me"], ["app"]),
        (["label=tier=nope"], []),
        (["before=app:1"], ["base"]),
        (["since=app:1"], ["dangling", "tool"]),
        (["since=base:1", "before=tools/tool"], ["app"]),
        (["reference=app"], ["app"]),
        (["reference=tools/*"], ["tool"]),
        (["reference=*"], ["app", "base"]),  # * does not cross a /: tools/tool and registry.example/… do not match
        (["reference=app:2"], ["app"]),
        (["reference=ap?:1"], ["app"]),
        (["reference=nope"], []),
    ],
)
def test_filters(toy: Toy, filters: list[str], want: list[str]) -> None:
    assert listed(toy, filters=filters) == want


def test_reference_filter_narrows_the_names_shown(toy: Toy) -> None:
    [app] = list_images(toy.store, filters=["reference=app:2"])
    assert app.repo_tags == [("app", "2")]
    [app] = list_images(toy.store, filters=["reference=registry.example/*/*"])
    assert app.repo_tags == [("registry.example/team/app", "1")]


@pytest.mark.parametrize("item", ["dangling", "colour=red", "until=1h", "=x"])
def test_unknown_filters(item: str) -> None:
    with pytest.raises(InvalidInput, match="invalid filter"):
        parse_filters([item])


def test_parse_filters_groups_values() -> None:
    assert parse_filters(["label=a", "label=b=c", "dangling=true"]) == {"label": ["a", "b=c"], "dangling": ["true"]}


def test_bad_dangling_value(toy: Toy) -> None:
    with pytest.raises(InvalidInput, match="expected true or false"):
        listed(toy, filters=["dangling=maybe"])


def test_before_an_unknown_image(toy: Toy) -> None:
    with pytest.raises(NotFound, match="No such image: ghost:1"):
        listed(toy, filters=["before=ghost:1"])
