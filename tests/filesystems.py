"""Real file systems that tests make and break: a small tmpfs or loop-mounted ext4, filled to the
last byte, and read-only views. Shared by tests/test_safety.py and tests/test_attack_disk.py.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from components import fail_or_skip, require

from bilge.fabricate import Image, docker_archive, layer_tar


def need_root(why: str) -> None:
    if os.geteuid() != 0:
        fail_or_skip(f"{why} needs root (mount)", ".ci/run runs as root")


@contextmanager
def small_fs(kind: str, megabytes: int) -> Iterator[Path]:
    """A fresh file system of `kind` (tmpfs or ext4 on a loop device), mounted for the block.

    ext4 is made with no blocks reserved for root, so the tests (root) see it full when it is.
    """
    top = Path(tempfile.mkdtemp(prefix="bilge-fs-", dir="/var/tmp"))
    mount = top / "mnt"
    mount.mkdir()
    if kind == "tmpfs":
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(mount)], check=True)
    else:
        image = top / "fs.img"
        with open(image, "wb") as f:
            f.truncate(megabytes << 20)
        mkfs = require("mkfs.ext4", "to make a small ext4 file system")
        subprocess.run([mkfs, "-q", "-F", "-m", "0", str(image)], check=True)
        subprocess.run(["mount", "-o", "loop", str(image), str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        subprocess.run(["rm", "-rf", "--one-file-system", str(top)], check=False)


def three_images() -> bytes:
    """Three tagged images of 2 MB each, nothing shared."""
    return docker_archive(
        [Image([f"app{i}:latest"], [layer_tar(f"safety-{i}", {f"f{j}": 100_000 for j in range(20)})]) for i in range(3)]
    )


def fill(mount: Path) -> None:
    """Write until the file system refuses another byte."""
    with open(mount / "filler", "wb") as f:
        block = b"\0" * (1 << 16)
        try:
            while True:
                f.write(block)
                f.flush()
        except OSError:
            pass
    for size in (4096, 512, 1):  # whatever partial block is left
        try:
            with open(mount / "filler", "ab") as f:
                while True:
                    f.write(b"\0" * size)
                    f.flush()
        except OSError:
            pass
    assert os.statvfs(mount).f_bavail == 0


@contextmanager
def read_only_view(root: Path, at: Path) -> Iterator[Path]:
    """`root` bind-mounted read-only at `at`."""
    at.mkdir()
    subprocess.run(["mount", "--bind", str(root), str(at)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(at)], check=True)
        yield at
    finally:
        subprocess.run(["umount", "-l", str(at)], check=False)
