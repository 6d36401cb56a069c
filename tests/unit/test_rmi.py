"""`rmi` (gc.sweep.remove_image): Docker's untag-or-delete rules, its conflicts, and the sweep
that follows (an untagged parent left orphaned goes too; shared layers stay).

A refused rmi must leave the store as it was: the untagging happens in the same transaction
as the check that refuses, so every conflict test also checks that the names are still there.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from toygraph import Toy, exists

from bilge.gc.sweep import remove_image
from bilge.store.errors import Conflict, NotFound


@pytest.fixture
def toy(tmp_path: Path) -> Toy:
    return Toy(tmp_path / "store")


def tags(toy: Toy) -> set[str]:
    return {f"{r}:{t}" for r, t in toy.db.execute("SELECT repository, tag FROM tags")}


def rmi(toy: Toy, name: str, force: bool = False) -> tuple[list[str], set[str], set[str]]:
    """(untagged, deleted image names, deleted layer names)."""
    removed = remove_image(toy.store, name, force)
    toy.store.trash.finish()
    return removed.untagged, toy.names(removed.images), toy.names(removed.layers, "layer")


def test_untag_while_another_tag_remains(toy: Toy) -> None:
    app = toy.image("app", toy.stack("b", "a"), tags=("app:1", "app:2"))
    assert rmi(toy, "app:1") == (["app:1"], set(), set())
    assert tags(toy) == {"docker.io/library/app:2"}
    assert toy.images() == {app}


def test_last_tag_deletes_the_image_and_its_unique_layers(toy: Toy) -> None:
    toy.image("base", toy.stack("b"), tags=("base:1",))
    app = toy.image("app", toy.stack("b", "a"), tags=("app:1",))
    assert rmi(toy, "app:1") == (["app:1"], {"app"}, {"a"})
    assert app not in toy.images()
    assert toy.layers() == {toy.layer_ids["b"]}
    assert not exists(toy.blob(app))
    assert not any(exists(p) for p in toy.layer_files(toy.layer_ids["a"]))


def test_last_tag_of_a_repository_takes_its_digests(toy: Toy) -> None:
    """A pulled image keeps its RepoDigest; untagging the repository's last tag must take it too,
    or the image would linger, named only by a digest."""
    app = toy.image("app", toy.stack("a"), tags=("app:1",))
    manifest = toy.digest(app, "app")
    assert rmi(toy, "app:1") == (["app:1", f"app@{manifest}"], {"app"}, {"a"})


def test_digest_of_another_repository_keeps_the_image(toy: Toy) -> None:
    app = toy.image("app", toy.stack("a"), tags=("app:1",))
    manifest = toy.digest(app, "mirror/app")
    assert rmi(toy, "app:1") == (["app:1"], set(), set())
    assert rmi(toy, f"mirror/app@{manifest}") == ([f"mirror/app@{manifest}"], {"app"}, {"a"})


@pytest.mark.parametrize("by", ["id", "short id", "bare hex"])
def test_by_id_untags_every_name_in_one_repository(toy: Toy, by: str) -> None:
    app = toy.image("app", toy.stack("a"), tags=("app:1", "app:2"))
    name = {"id": app, "short id": app[7:19], "bare hex": app[7:]}[by]
    assert rmi(toy, name) == (["app:1", "app:2"], {"app"}, {"a"})
    assert tags(toy) == set()


def test_multiple_repositories_need_force(toy: Toy) -> None:
    app = toy.image("app", toy.stack("a"), tags=("app:1", "other/app:1"))
    with pytest.raises(Conflict, match=r"must be forced\) - image is referenced in multiple repositories"):
        rmi(toy, app)
    assert tags(toy) == {"docker.io/library/app:1", "docker.io/other/app:1"}
    assert rmi(toy, app, force=True) == (["app:1", "other/app:1"], {"app"}, {"a"})


def test_orphaned_untagged_parents_go_too(toy: Toy) -> None:
    """Docker's prune-parents: the untagged intermediates the child was built on go with it, up
    to the first parent that is named (or has another child)."""
    base = toy.image("base", toy.stack("b"), tags=("base:1",))
    mid1 = toy.image("mid1", toy.stack("b", "m1"), parent=base)
    mid2 = toy.image("mid2", toy.stack("b", "m1", "m2"), parent=mid1)
    toy.image("app", toy.stack("b", "m1", "m2", "a"), parent=mid2, tags=("app:1",))
    assert rmi(toy, "app:1") == (["app:1"], {"app", "mid2", "mid1"}, {"a", "m2", "m1"})
    assert toy.images() == {base}


def test_parent_with_another_child_stays(toy: Toy) -> None:
    mid = toy.image("mid", toy.stack("b"))
    toy.image("one", toy.stack("b", "x"), parent=mid, tags=("one:1",))
    toy.image("two", toy.stack("b", "y"), parent=mid, tags=("two:1",))
    assert rmi(toy, "one:1") == (["one:1"], {"one"}, {"x"})
    assert rmi(toy, "two:1") == (["two:1"], {"two", "mid"}, {"y", "b"})


def test_parent_used_by_a_container_stays(toy: Toy) -> None:
    mid = toy.image("mid", toy.stack("b"))
    toy.image("app", toy.stack("b", "a"), parent=mid, tags=("app:1",))
    toy.container("c", mid, state="exited")
    assert rmi(toy, "app:1") == (["app:1"], {"app"}, {"a"})
    assert toy.images() == {mid}


def test_image_with_children_by_id_cannot_be_forced(toy: Toy) -> None:
    base = toy.image("base", toy.stack("b"), tags=("base:1",))
    toy.image("app", toy.stack("b", "a"), parent=base, tags=("app:1",))
    for force in (False, True):
        with pytest.raises(Conflict, match=r"cannot be forced\) - image has dependent child images"):
            rmi(toy, base, force=force)
    assert tags(toy) == {"docker.io/library/base:1", "docker.io/library/app:1"}


def test_image_with_children_by_tag_is_only_untagged(toy: Toy) -> None:
    """Docker untags a parent by name and keeps the image for its children."""
    base = toy.image("base", toy.stack("b"), tags=("base:1",))
    toy.image("app", toy.stack("b", "a"), parent=base, tags=("app:1",))
    assert rmi(toy, "base:1") == (["base:1"], set(), set())
    assert base in toy.images()


def test_running_container_blocks_even_with_force(toy: Toy) -> None:
    app = toy.image("app", toy.stack("a"), tags=("app:1",))
    cid = toy.container("c", app, state="running")
    for name, force in (("app:1", True), (app, False), (app, True)):
        with pytest.raises(
            Conflict, match=f"cannot be forced\\) - image is being used by running container {cid[:12]}"
        ):
            rmi(toy, name, force=force)
    assert tags(toy) == {"docker.io/library/app:1"}


def test_stopped_container_needs_force_and_keeps_the_image(toy: Toy) -> None:
    """Forced, the names go but the image stays: the container's row still refers to it (Docker
    would delete it and leave the container pointing at nothing)."""
    app = toy.image("app", toy.stack("a"), tags=("app:1",))
    cid = toy.container("c", app, state="exited")
    with pytest.raises(Conflict, match=f"must be forced\\) - image is being used by stopped container {cid[:12]}"):
        rmi(toy, app)
    assert tags(toy) == {"docker.io/library/app:1"}
    assert rmi(toy, "app:1", force=True) == (["app:1"], set(), set())
    assert toy.images() == {app} and tags(toy) == set()


@pytest.mark.parametrize("state", ["exited", "created", "running"])
def test_last_name_of_an_image_a_container_uses_needs_force(toy: Toy, state: str) -> None:
    """Docker checks before untagging, children or not: the image would be left unnamed under
    its container. Another tag, or a second repository, is only a name, untagged freely."""
    base = toy.image("base", toy.stack("b"), tags=("base:1",))
    toy.image("app", toy.stack("b", "a"), parent=base, tags=("app:1",))
    cid = toy.container("c", base, state=state)
    message = (
        f'conflict: unable to remove repository reference "base:1" (must force) - container {cid[:12]} '
        f"is using its referenced image {base[7:19]}"
    )
    with pytest.raises(Conflict) as refused:
        rmi(toy, "base:1")
    assert str(refused.value) == message
    assert tags(toy) == {"docker.io/library/base:1", "docker.io/library/app:1"}
    toy.tag(base, "base:2")
    assert rmi(toy, "base:2") == (["base:2"], set(), set())
    assert rmi(toy, "base:1", force=True) == (["base:1"], set(), set())
    assert base in toy.images()


def test_pinned_needs_force(toy: Toy) -> None:
    app = toy.image("app", toy.stack("a"), tags=("app:1",))
    toy.pin(app)
    with pytest.raises(Conflict, match=r"must be forced\) - image is pinned"):
        rmi(toy, "app:1")
    assert tags(toy) == {"docker.io/library/app:1"}
    assert toy.db.execute("SELECT COUNT(*) FROM pins").fetchone()[0] == 1
    assert rmi(toy, "app:1", force=True) == (["app:1"], {"app"}, {"a"})


def test_label_pinned_cannot_be_forced(toy: Toy) -> None:
    """The label is part of the image's config: only a new image can lift it."""
    app = toy.image("app", toy.stack("a"), tags=("app:1",), labels={"bilge.pin": "true"})
    for name in ("app:1", app):
        with pytest.raises(Conflict, match=r"cannot be forced\) - image is pinned by its label bilge.pin"):
            rmi(toy, name, force=True)
    assert tags(toy) == {"docker.io/library/app:1"} and toy.images() == {app}


def test_leased_image_is_untagged_but_kept(toy: Toy) -> None:
    """Work in progress (a pull re-tagging it, say) holds the image; rmi takes only the name."""
    app = toy.image("app", toy.stack("a"), tags=("app:1",))
    toy.lease(("image", app))
    assert rmi(toy, "app:1") == (["app:1"], set(), set())
    assert toy.images() == {app}


def test_unknown_name(toy: Toy) -> None:
    toy.image("app", toy.stack("a"), tags=("app:1",))
    with pytest.raises(NotFound, match="No such image: nope:1"):
        rmi(toy, "nope:1")
