"""A user who is not root pointed at root's store (issue 15, item 13): told whose store it is
and how to use their own, in one line, instead of "internal error: … readonly database"."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from components import fail_or_skip

NOBODY = 65534
AS_USER = Path(__file__).with_name("as_user.py")
OWN = "; use your own store with --root DIR (or BILGE_ROOT), or the per-user default /home/someone/.local/share/bilge\n"


@pytest.fixture(scope="module")
def root_store(fixtures_dir: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        fail_or_skip("switching to another user needs root", ".ci/run runs as root")
    top = Path(tempfile.mkdtemp(prefix="bilge-other-user-", dir="/tmp"))  # pytest's own tmp is closed to others
    top.chmod(0o755)
    root = top / "store"
    load = [
        sys.executable,
        "-m",
        "bilge",
        "--root",
        str(root),
        "load",
        "-q",
        "-i",
        str(fixtures_dir / "docker" / "images.tar.gz"),
    ]
    subprocess.run(load, check=True, capture_output=True)
    yield root
    shutil.rmtree(top)


def as_nobody(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": "/home/someone"}
    env.pop("XDG_DATA_HOME", None)
    return subprocess.run(
        [sys.executable, str(AS_USER), str(NOBODY), str(root), *args], capture_output=True, text=True, env=env
    )


@pytest.mark.parametrize("args", [["images"], ["tag", "busybox", "mine:1"], ["image", "prune", "-a", "-f"]])
def test_a_private_store_says_whose_it_is(root_store: Path, args: list[str]) -> None:
    """A store is made 0700 (its database 0600): another user cannot even read it."""
    proc = as_nobody(root_store, *args)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == (
        f"Error: the store at {root_store} belongs to root (uid 0), and this user (uid {NOBODY}) cannot read it" + OWN
    )


@pytest.fixture
def readable_store(root_store: Path) -> Iterator[Path]:
    """Root's store opened to everyone for reading, as an admin might share it."""
    copy = root_store.with_name("shared")
    subprocess.run(["cp", "-a", str(root_store), str(copy)], check=True)
    copy.chmod(0o755)
    (copy / "bilge.db").chmod(0o644)
    yield copy
    shutil.rmtree(copy)


def test_a_readable_store_lists_and_refuses_writes(readable_store: Path) -> None:
    listed = as_nobody(readable_store, "images", "--format", "{{.Repository}}:{{.Tag}}")
    assert (listed.returncode, listed.stderr) == (0, "")
    assert "busybox:latest" in listed.stdout.splitlines()
    for args in (["tag", "busybox", "mine:1"], ["rmi", "busybox"], ["pin", "busybox"]):
        proc = as_nobody(readable_store, *args)
        assert (proc.returncode, proc.stdout) == (1, ""), args
        assert proc.stderr == (
            f"Error: the store at {readable_store} belongs to root (uid 0), and this user (uid {NOBODY}) "
            "cannot write to it: this command writes, and was not run" + OWN
        ), args
