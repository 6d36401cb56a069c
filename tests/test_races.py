"""A command holds its lease from its first read to its last write (issue 14, item 8): a prune
that runs while a `create` copies its image, or between `commit` making its image and tagging
it, takes nothing the command is about to refer to.

Each race is reproduced exactly: the command stops at a test point (store/testpoints.py) while
the prune runs in a second process, then goes on.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import hostile
from containers_support import needs_containers


@contextmanager
def paused(bilge_root: Path, point: str, fifo: Path, *args: str) -> Iterator[subprocess.Popen]:
    """`bilge *args` in the background, stopped at test point `point` for as long as the block
    runs; after it, the command goes on and is waited for."""
    os.mkfifo(fifo)
    env = {**os.environ, "BILGE_ROOT": str(bilge_root), "BILGE_TEST_PAUSE": f"{point}:{fifo}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bilge", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while True:  # the FIFO opens for writing once the command has opened it to read: it is there
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            assert exc.errno == errno.ENXIO
        assert proc.poll() is None, f"bilge {' '.join(args)} ended before {point}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"bilge {' '.join(args)} never reached {point}"
        time.sleep(0.01)
    try:
        yield proc
    finally:
        os.close(fd)
        proc.wait(timeout=120)


def _load_dangling(bilge: Callable, tmp_path: Path) -> str:
    """An untagged image (what `image prune` takes) of one layer; its ID."""
    archive = tmp_path / "dangling.tar"
    archive.write_bytes(hostile.docker_archive([hostile.sample_layer()], repo_tag=None))
    return bilge("load", "-i", archive).stdout.split("Loaded image ID: ")[1].strip()


def test_prune_during_create_keeps_the_image_being_copied(bilge, bilge_root, tmp_path):
    needs_containers()
    image = _load_dangling(bilge, tmp_path)
    with paused(bilge_root, "create", tmp_path / "fifo", "create", "--storage-driver", "vfs", image, "x") as create:
        prune = bilge("image", "prune", "-f")
    out, err = create.communicate()
    assert (create.returncode, err) == (0, ""), err
    assert prune.stdout == "Total reclaimed space: 0B\n"
    cid = out.strip()
    assert json.loads(bilge("inspect", cid).stdout)[0]["Image"] == image
    assert bilge("check").returncode == 0


def test_prune_between_commit_and_its_tag_keeps_the_new_image(bilge, bilge_root, tmp_path):
    needs_containers()
    image = _load_dangling(bilge, tmp_path)
    cid = bilge("create", "--storage-driver", "vfs", image, "x").stdout.strip()
    merged = Path(json.loads(bilge("inspect", cid).stdout)[0]["GraphDriver"]["Data"]["Dir"])
    (merged / "added").write_bytes(b"new\n")
    with paused(bilge_root, "commit", tmp_path / "fifo", "commit", cid, "raced:latest") as commit:
        prune = bilge("image", "prune", "-f")
    out, err = commit.communicate()
    assert (commit.returncode, err) == (0, ""), err
    assert prune.stdout == "Total reclaimed space: 0B\n"
    assert json.loads(bilge("inspect", "raced:latest").stdout)[0]["Id"] == out.strip()
    assert bilge("check").returncode == 0


def test_prune_during_save_keeps_the_images_being_written(bilge, bilge_root, tmp_path):
    image = _load_dangling(bilge, tmp_path)
    out = tmp_path / "saved.tar"
    with paused(bilge_root, "save", tmp_path / "fifo", "save", "-o", str(out), image) as save:
        prune = bilge("image", "prune", "-f")
    _, err = save.communicate()
    assert (save.returncode, err) == (0, ""), err
    assert prune.stdout == "Total reclaimed space: 0B\n"
    assert bilge("load", "-i", out).stdout == f"Loaded image ID: {image}\n"
