"""The trash's deleters: how a prune's garbage is shared out, and that every share is deleted."""

from __future__ import annotations

from pathlib import Path

from bilge.store import trash


def test_a_10000_image_prune_keeps_every_deleter_busy() -> None:
    """The scale benchmark's prune queues 10,011 layer trees: each of the 32 deleters gets its
    share at once (four rms took 2-3x as long on a cold, discard-mounted disk), all in order."""
    trees = [f"trash/.del-1-{n:05}" for n in range(10_011)]
    batches = trash.spread(trees, 1, trash.RM_BATCH)
    assert [len(b) for b in batches] == [313] * 31 + [308]
    assert [p for b in batches for p in b] == trees


def test_a_few_files_are_not_worth_a_thread_each() -> None:
    assert trash.spread([f"f{n}" for n in range(100)], 64, 100) == [
        [f"f{n}" for n in range(64)],
        [f"f{n}" for n in range(64, 100)],
    ]
    assert trash.spread(["f0", "f1"], 64, 2) == [["f0", "f1"]]
    assert trash.spread([], 64, 0) == []


def test_rm_batches_stay_inside_the_argument_limit() -> None:
    trees = [f"t{n}" for n in range(100_000)]
    assert {len(b) for b in trash.spread(trees, 1, trash.RM_BATCH)} == {trash.RM_BATCH}


def test_every_share_is_deleted(tmp_path: Path) -> None:
    """More trees than deleters and files in several threads: nothing is left."""
    trees = []
    for n in range(2 * trash.DELETERS + 3):
        tree = tmp_path / f"tree{n}"
        (tree / "diff" / "app").mkdir(parents=True)
        (tree / "diff" / "app" / str(n)).write_bytes(b"x" * 512)
        (tree / "link").symlink_to("diff")
        trees.append(str(tree))
    files = []
    for n in range(200):
        (tmp_path / f"blob{n}").write_bytes(b"{}")
        files.append(str(tmp_path / f"blob{n}"))
    trash._unlink_all(files)
    trash.remove_trees(trees)
    assert list(tmp_path.iterdir()) == []
