"""No recursion on a depth the input picks (issue 14, item 7): a directory tree deeper than
the recursion limit allows through vfs create, `diff` (vfs and overlay), commit's tar and a
build context's walk, and a 3,000-deep parent chain through `images -a`, `history`, prune and
rmi. Python's limit is 1,000 frames and os.walk and shutil.rmtree recurse on 3.11, so a
1,100-deep tree failed each of these with RecursionError.

(3,000-deep trees are out of reach for any path-based tool: with one-letter names their paths
pass the kernel's PATH_MAX of 4,096 bytes long before 3,000 levels.)
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from toygraph import Toy

from bilge.store import fsutil
from bilge.store.build.context import Tree
from bilge.store.containers import rootfs
from bilge.store.containers.changes import Change, overlay_changes, vfs_changes
from bilge.store.containers.export import write_upper

DEPTH = 400
CHAIN = 3000


@pytest.fixture(autouse=True)
def shallow_stack(tmp_path: Path) -> Iterator[None]:
    """Python's recursion limit, lowered to 150 frames above the test's own: a DEPTH-deep tree
    then breaks recursive code as a 1,100-deep one does under the default limit of 1,000, at a
    seventh of the cost (each path lookup walks every level, so a tree costs depth squared).

    The trees go with the test: pytest's own clean-up of old temporary directories recurses."""
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 150)
    try:
        yield
    finally:
        sys.setrecursionlimit(before)
        fsutil.rmtree(str(tmp_path), ignore_errors=True)


def deep(top: Path, depth: int = DEPTH, leaf: str = "f") -> str:
    """`top`/a/a/…/a (depth levels) holding the file `leaf`; its path relative to `top`. Made
    through directory descriptors, since os.makedirs recurses too."""
    top.mkdir(exist_ok=True)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            try:
                os.mkdir("a", dir_fd=fd)
            except FileExistsError:
                pass
            below = os.open("a", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = below
        os.close(os.open(leaf, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    finally:
        os.close(fd)
    return "/".join(["a"] * depth + [leaf])


def chain_paths(depth: int = DEPTH) -> list[str]:
    return ["/" + "/".join(["a"] * n) for n in range(1, depth + 1)]


def test_walk_visits_as_os_walk_does(tmp_path: Path) -> None:
    """The same triples in the same order, symlinked directories listed but not entered."""
    for rel in ("b/c/d", "b/e", "a", "z/y"):
        (tmp_path / rel).mkdir(parents=True)
    for rel in ("b/c/f1", "b/f2", "z/y/f3", "top"):
        (tmp_path / rel).write_text(rel)
    (tmp_path / "b" / "link").symlink_to("../z")
    assert list(fsutil.walk(str(tmp_path))) == list(os.walk(str(tmp_path)))


def test_walk_copy_tree_and_rmtree_at_depth(tmp_path: Path) -> None:
    rel = deep(tmp_path / "src")
    assert sum(1 for _ in fsutil.walk(str(tmp_path / "src"))) == DEPTH + 1
    fsutil.copy_tree(str(tmp_path / "src"), str(tmp_path / "dst"))
    assert (tmp_path / "dst" / rel).is_file()
    fsutil.rmtree(str(tmp_path / "src"))
    assert not (tmp_path / "src").exists()


def test_vfs_build_merges_and_diffs_a_deep_tree(tmp_path: Path) -> None:
    """vfs create (two layers, the deep directory merged level by level), then `diff` after a
    change at the bottom: every directory on the way is "C", in depth-first order."""
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    deep(lower, leaf="f")
    deep(upper, leaf="g")
    layers = [(upper, "aufs"), (lower, "aufs")]
    target = tmp_path / "rootfs"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    rootfs.build_vfs(layers, target, scratch)
    bottom = target / "/".join(["a"] * DEPTH)
    assert sorted(os.listdir(bottom)) == ["f", "g"]
    (bottom / "h").write_text("new\n")
    os.utime(bottom, ns=(0, 0))  # the directory changed for sure, whatever the clock's granularity
    expected = [Change("C", path) for path in chain_paths()] + [Change("A", chain_paths()[-1] + "/h")]
    assert vfs_changes(str(target), layers) == expected


def test_overlay_diff_and_commit_tar_of_a_deep_tree(tmp_path: Path) -> None:
    upper, lower = tmp_path / "upper", tmp_path / "lower"
    lower.mkdir()
    rel = deep(upper)
    expected = [Change("A", path) for path in chain_paths()] + [Change("A", "/" + rel)]
    assert overlay_changes(str(upper), [str(lower)]) == expected
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        write_upper(tf, str(upper))
    out.seek(0)
    with tarfile.open(fileobj=out) as tf:
        assert [m.name for m in tf] == [p.lstrip("/") for p in chain_paths()] + [rel]


def test_a_build_context_walks_a_deep_tree(tmp_path: Path) -> None:
    rel = deep(tmp_path)
    walked = list(Tree(tmp_path, None).walk(""))
    assert walked == [""] + [p.lstrip("/") for p in chain_paths()] + [rel]


# -- a 3,000-deep parent chain ------------------------------------------------------------------


@pytest.fixture
def long_chain(bilge_root: Path) -> list[str]:
    """CHAIN images, each the parent of the next, over one layer; the last tagged top:1."""
    shutil.rmtree(bilge_root)
    toy = Toy(bilge_root)
    chain = toy.stack("base")
    ids: list[str] = []
    for n in range(CHAIN):
        ids.append(toy.image(f"step{n}", chain, parent=ids[-1] if ids else None, created_by=f"step {n}"))
    toy.tag(ids[-1], "top:1")
    toy.store.close()
    return ids


def test_a_deep_parent_chain_lists_prunes_and_removes(bilge, long_chain: list[str]) -> None:
    shown = json.loads(bilge("images", "-a", "--format", "json").stdout)
    assert len(shown) == CHAIN
    history = json.loads(bilge("history", "--format", "json", "top:1").stdout)
    assert [entry["ID"] for entry in history] == [long_chain[-1]]
    assert bilge("image", "prune", "-f").stdout == "Total reclaimed space: 0B\n"  # each untagged one is a parent
    removed = bilge("rmi", "top:1").stdout.splitlines()
    assert removed[0] == "Untagged: top:1" and len(removed) == 1 + CHAIN + 1  # and the one layer
    assert json.loads(bilge("images", "-a", "--format", "json").stdout) == []
    bilge("check")
