"""The store where it is hostile to itself: a full file system, a read-only one, a lost database,
a dead lease holder, inputs deep enough to exhaust a recursion, and paths that are not regular files.

The file systems are real: a tmpfs with size= or a loop-mounted ext4 that each test makes.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from filesystems import fill, need_root, read_only_view, small_fs, three_images

from bilge.fabricate import Image, docker_archive, layer_tar

# --- item 4: a prune on a full file system ---------------------------------------------------


@pytest.mark.parametrize("kind", ["tmpfs", "ext4"])
def test_prune_frees_space_on_a_full_file_system(bilge, tmp_path: Path, kind: str) -> None:
    """Cron prunes exactly when the disk is full: the prune must work then, free what it says,
    and leave a store that checks clean."""
    need_root("a full file system")
    archive = tmp_path / "three.tar"
    archive.write_bytes(three_images())
    with small_fs(kind, 48) as mount:
        root = mount / "store"
        bilge("--root", root, "load", "-i", archive)
        bilge("--root", root, "rmi", "app0:latest", "app1:latest")
        fill(mount)
        before = os.statvfs(mount).f_bavail
        pruned = bilge("--root", root, "image", "prune", "-a", "-f", check=False)
        assert pruned.returncode == 0, pruned.stderr
        assert "app2:latest" in pruned.stdout
        assert (os.statvfs(mount).f_bavail - before) * os.statvfs(mount).f_frsize >= 2_000_000
        assert bilge("--root", root, "check").returncode == 0
        assert (root / "reserve").stat().st_size > 0  # made again once there was room


# --- item 5: a read-only store -----------------------------------------------------------------


READERS = [
    ["images", "-a"],
    ["system", "df", "-v"],
    ["inspect", "app1:latest"],
    ["history", "app1:latest"],
    ["check"],
    ["image", "prune", "-a", "--dry-run"],
]
WRITERS = [
    ["rmi", "app1:latest"],
    ["tag", "app1:latest", "other:1"],
    ["pin", "app1:latest"],
    ["image", "prune", "-a", "-f"],
]


def test_a_read_only_store_answers_reads_and_refuses_writes_in_one_line(
    bilge, bilge_root: Path, tmp_path: Path
) -> None:
    need_root("a read-only bind mount")
    archive = tmp_path / "three.tar"
    archive.write_bytes(three_images())
    bilge("load", "-i", archive)
    want = {" ".join(args): bilge(*args).stdout for args in READERS}
    saved = bilge("save", "app1:latest", binary=True).stdout
    with read_only_view(bilge_root, tmp_path / "ro") as view:
        for args in READERS:
            got = bilge("--root", view, *args).stdout.replace(str(view), str(bilge_root))  # inspect's paths
            assert got == want[" ".join(args)], args
        assert bilge("--root", view, "save", "app1:latest", binary=True).stdout == saved
        for args in [*WRITERS, ["load", "-i", str(archive)]]:
            refused = bilge("--root", view, *args, check=False)
            assert refused.returncode == 1, args
            assert refused.stderr.splitlines() == [
                f"Error: the store at {view} is on a read-only file system: this command writes, and was not run"
            ], args
    assert bilge("images", "-a").stdout == want["images -a"]


# --- item 3 (and issue 15's item 2): a lost database, a missing store ----------------------


def test_a_store_whose_database_is_lost_is_refused_not_emptied(bilge, bilge_root: Path, tmp_path: Path) -> None:
    archive = tmp_path / "three.tar"
    archive.write_bytes(three_images())
    bilge("load", "-i", archive)
    layers = sorted(p.name for p in (bilge_root / "layers").iterdir())
    for name in ("bilge.db", "bilge.db-wal", "bilge.db-shm"):
        (bilge_root / name).unlink(missing_ok=True)
    for args in (["images"], ["check", "--repair"], ["image", "prune", "-a", "-f"], ["load", "-i", str(archive)]):
        refused = bilge(*args, check=False)
        assert refused.returncode == 1, args
        assert refused.stderr.splitlines() == [
            f"Error: the store at {bilge_root} holds layers/ and blobs/ but no bilge.db: its database is lost, "
            "and it is refused rather than treated as empty (restore bilge.db, or move the directory away)"
        ], args
    assert sorted(p.name for p in (bilge_root / "layers").iterdir()) == layers
    assert not (bilge_root / "bilge.db").exists()


def test_a_missing_store_is_refused_by_readers_and_prunes_and_made_by_load(bilge, tmp_path: Path) -> None:
    typo = tmp_path / "typo"
    for args in (["images"], ["system", "df"], ["check"], ["image", "prune", "-a", "-f"], ["rmi", "x"], ["ps", "-a"]):
        refused = bilge("--root", typo, *args, check=False)
        assert refused.returncode == 1, args
        assert refused.stderr.splitlines() == [f"Error: no store at {typo}; `bilge load` or `pull` creates one"], args
        assert not typo.exists()
    archive = tmp_path / "three.tar"
    archive.write_bytes(three_images())
    bilge("--root", typo, "load", "-i", archive)
    assert "app2" in bilge("--root", typo, "images").stdout


# --- item 2: who may read and write the store ----------------------------------------------


def test_the_store_is_private_and_nothing_in_it_is_world_writable_under_umask_000(tmp_path: Path) -> None:
    """Container environments and image configs are in the database and blobs: root only. Under
    umask 000 nothing the store makes may be writable by other users (they could plant files in
    layers that root runs)."""
    import stat
    import sys

    root = tmp_path / "store"
    archive = tmp_path / "three.tar"
    archive.write_bytes(three_images())
    env = {**os.environ, "BILGE_ROOT": str(root)}
    for args in (
        ["load", "-i", str(archive)],
        ["create", "--storage-driver", "vfs", "-e", "DB_PASSWORD=x", "app1:latest"],
    ):
        subprocess.run(
            [sys.executable, "-m", "bilge", *args],
            env=env,
            check=True,
            capture_output=True,
            preexec_fn=lambda: os.umask(0),
        )
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    for name in ("bilge.db", "bilge.db-wal", "bilge.db-shm"):
        if (root / name).exists():
            assert stat.S_IMODE((root / name).stat().st_mode) == 0o600, name
    blobs = list((root / "blobs" / "sha256").iterdir())
    assert blobs and all(stat.S_IMODE(b.stat().st_mode) == 0o600 for b in blobs)
    writable = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & stat.S_IWOTH:
                writable.append(os.path.relpath(os.path.join(dirpath, name), root))
    assert writable == []


# --- item 6: a lease whose holder is gone ---------------------------------------------------

HOLDER = """
import sys, time
from bilge.store.core import Store
store = Store(sys.argv[1])
image = store.db.execute("SELECT id FROM images").fetchone()[0]
with store.lease("load") as lease:
    lease.add("image", image)
    print("holding", image, flush=True)
    time.sleep(600)
"""


def test_a_lease_whose_holder_was_killed_is_dead(bilge, bilge_root: Path, tmp_path: Path) -> None:
    """A killed command's lease pins nothing: df calls its image reclaimable at once, check
    reports what it held, and prune takes it."""
    import signal
    import sys

    archive = tmp_path / "one.tar"
    archive.write_bytes(docker_archive([Image([], [layer_tar("lease", {"f": 300_000})])]))
    bilge("load", "-i", archive)
    image = bilge("images", "-a", "-q", "--no-trunc").stdout.strip()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(bilge_root)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().split() == ["holding", image]
        assert bilge("image", "prune", "-f").stdout.strip().endswith("Total reclaimed space: 0B")
        assert bilge("check").returncode == 0  # a live holder's lease is fine
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    checked = bilge("check", check=False)
    assert checked.returncode == 1
    assert f"held image {image}" in checked.stdout + checked.stderr
    pruned = bilge("image", "prune", "-a", "-f")
    assert image in pruned.stdout
    repaired = bilge("check", "--repair")
    assert f"dropped lapsed lease of a load (pid {holder.pid}) held image {image}" in repaired.stdout + repaired.stderr
    assert bilge("check").returncode == 0


def test_a_lease_whose_pid_was_reused_is_dead(bilge_root: Path) -> None:
    """The pid is alive, but it is another process than the one that took the lease."""
    from bilge.store.core import Store
    from bilge.store.leases import holder

    store = Store(bilge_root)
    mine = holder(os.getpid())
    assert mine is not None
    boot, namespace, start = mine.split(" ")
    for lease_id, recorded in (("reused", f"{boot} {namespace} {int(start) - 1}"), ("live", mine)):
        store.db.execute(
            "INSERT INTO leases (id, purpose, pid, holder, created, expires) VALUES (?, 'load', ?, ?, 0, 1e12)",
            [lease_id, os.getpid(), recorded],
        )
    store.close()
    store = Store(bilge_root)
    live = {r[0] for r in store.db.execute("SELECT id FROM leases WHERE expires > ?", [time.time()])}
    assert live == {"live"}


# --- item 1: save -o into what is there ----------------------------------------------------


def test_save_writes_into_a_fifo_and_through_a_symlink(bilge, tmp_path: Path) -> None:
    """`docker save -o` writes into what is at the path: a FIFO stays a FIFO (as a device would:
    the same path in save, not tried on the host's /dev/null), a symlink stays a symlink and its
    target gets the archive."""
    import stat
    import threading

    archive = tmp_path / "three.tar"
    archive.write_bytes(three_images())
    bilge("load", "-i", archive)
    want = bilge("save", "app1:latest", binary=True).stdout
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    bilge("save", "-o", fifo, "app1:latest")
    reader.join(30)
    assert got == [want] and stat.S_ISFIFO(fifo.lstat().st_mode)
    target, link = tmp_path / "target.tar", tmp_path / "link.tar"
    target.write_bytes(b"old")
    link.symlink_to(target)
    bilge("save", "-o", link, "app1:latest")
    assert link.is_symlink() and target.read_bytes() == want
