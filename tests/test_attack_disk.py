"""Disk-full and read-only runs on a loop-mounted ext4 the test makes (tests/filesystems.py).

A load that runs out of room part-way fails with one line and leaves the store as it was (the
same files and rows, `check` clean, no scratch left in ingest/); a prune at 100% full then frees
space; and with the whole file system remounted read-only, `images`, `system df` and `inspect`
answer as they did.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import attack
import pytest
from filesystems import fill, need_root, small_fs, three_images

from bilge.fabricate import Image, docker_archive, layer_tar

READERS = (["images", "-a"], ["system", "df", "-v"], ["inspect", "app1:latest"])


def big_archive() -> bytes:
    """One image of 12 MB in four layers: more than the room the test leaves."""
    return docker_archive(
        [Image(["big:1"], [layer_tar(f"disk-{n}", {f"l{n}/f{i}": 300_000 for i in range(10)}) for n in range(4)])]
    )


def leave_free(mount: Path, megabytes: float) -> None:
    """Fill the file system, then give back about `megabytes`."""
    fill(mount)
    with open(mount / "filler", "r+b") as f:
        f.truncate(max(0, os.path.getsize(mount / "filler") - int(megabytes * (1 << 20))))


def state(bilge, root: Path) -> tuple:
    return attack.listing(root), attack.rows(root), bilge("--root", root, "images", "-a", "--no-trunc").stdout


@pytest.mark.parametrize("free", [0, 1, 4], ids=lambda mb: f"{mb}MiB-free")
def test_a_load_that_fills_the_disk_fails_in_one_line_and_changes_nothing(bilge, tmp_path: Path, free: int) -> None:
    need_root("a loop-mounted ext4")
    small, big = tmp_path / "three.tar", tmp_path / "big.tar"
    small.write_bytes(three_images())
    big.write_bytes(big_archive())
    with small_fs("ext4", 32) as mount:
        root = mount / "store"
        bilge("--root", root, "load", "-i", small)
        before = state(bilge, root)
        leave_free(mount, free)
        loaded = bilge("--root", root, "load", "-i", big, check=False)
        attack.count("disk", f"load with {free} MiB free: exit {loaded.returncode}")
        assert loaded.returncode == 1
        assert attack.clean_error(loaded.stderr) is None, loaded.stderr
        (mount / "filler").unlink()  # room for the test's own reads of the database
        assert state(bilge, root) == before
        assert list((root / "ingest").iterdir()) == []
        assert bilge("--root", root, "check").returncode == 0
        # and at 100% full a prune still frees the room that was asked of it
        fill(mount)
        bilge("--root", root, "rmi", "app0:latest")
        pruned = bilge("--root", root, "image", "prune", "-a", "-f", check=False)
        assert pruned.returncode == 0, pruned.stderr
        assert os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize >= 2_000_000
        assert bilge("--root", root, "check").returncode == 0


def test_a_read_only_mount_answers_images_system_df_and_inspect(bilge, tmp_path: Path) -> None:
    need_root("a loop-mounted ext4")
    small = tmp_path / "three.tar"
    small.write_bytes(three_images())
    with small_fs("ext4", 32) as mount:
        root = mount / "store"
        bilge("--root", root, "load", "-i", small)
        want = [bilge("--root", root, *args).stdout for args in READERS]
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        got = [bilge("--root", root, *args, check=False) for args in READERS]
        assert [g.stderr for g in got] == ["", "", ""]
        assert [g.stdout for g in got] == want
        refused = bilge("--root", root, "rmi", "app1:latest", check=False)
        assert refused.returncode == 1
        assert attack.clean_error(refused.stderr) is None, refused.stderr
        attack.count("disk", "read-only readers answered", len(READERS))
