"""What the extracted layers look like on disk, against the layer tars real Docker wrote.

The zoo image (fixtures/docker/contexts/zoo/Dockerfile) carries a whiteout, an opaque directory,
a hardlink, a symlink, a FIFO, a setuid file, a 1000:1000 0640 file, PAX long names and a
non-ASCII name. We run as root, so whiteouts are overlay's: a 0/0 character device, and an
opaque directory has the xattr trusted.overlay.opaque=y. Which layer holds what is found by
walking the diff directories `inspect` reports, never by their names.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from components import fail_or_skip

OPAQUE = ".wh..wh..opq"
WHITEOUT = ".wh."


@pytest.fixture(scope="module")
def fixture_tars(tmp_path_factory, fixtures_dir: Path) -> dict[str, Path]:
    """diff_id -> an extracted copy of the fixture's layer.tar with that digest."""
    dest = tmp_path_factory.mktemp("fixture")
    with tarfile.open(fixtures_dir / "docker" / "images.tar.gz") as tf:
        tf.extractall(dest, filter="tar")
    out = {}
    for path in dest.glob("*/layer.tar"):
        out["sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()] = path.resolve()
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory, fixtures_dir):
    """One store with the fixture loaded, shared by these read-only tests: a `bilge(*args)` runner."""
    if os.geteuid() != 0:
        fail_or_skip("overlay whiteouts, ownership and trusted.* xattrs need root")
    root = tmp_path_factory.mktemp("semantics") / "root"

    def bilge(*args) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "bilge", *map(str, args)],
            check=False,
            capture_output=True,
            text=True,
            env={**os.environ, "BILGE_ROOT": str(root)},
        )
        assert proc.returncode == 0, proc.stderr
        return proc

    bilge("load", "-i", fixtures_dir / "docker" / "images.tar.gz")
    return bilge


IMAGES = [
    "busybox",
    "zoo",
    "app:v1",
    "app:v2",
    "multistage",
    "scratchpad",
    "sha256:f0989b0bdf4866d4bb2b6a0f3f097e1a0e3f02842d3813cd0ddcbf7bcc0ab4fc",
    "sha256:6a804b3815414fe3859ce4906eb1cafe9bc26b8068f91c6c7c14816f09d19958",
]


@pytest.fixture(scope="module")
def inspected(store) -> dict[str, dict]:
    """`bilge inspect` of every loaded image, in one call."""
    return dict(zip(IMAGES, json.loads(store("inspect", "--", *IMAGES).stdout)))


def diff_dirs(inspected: dict[str, dict], name: str) -> list[tuple[str, Path]]:
    """(diff_id, diff dir) of each layer of `name`, bottom first, from inspect's GraphDriver."""
    img = inspected[name]
    data = img["GraphDriver"]["Data"]
    lower = data.get("LowerDir", "")
    dirs = [data["UpperDir"], *(lower.split(":") if lower else [])][::-1]
    layers = img["RootFS"]["Layers"]
    assert len(dirs) == len(layers), "one diff dir per layer"
    for d in dirs:
        assert Path(d).is_dir(), d
    return [(diff_id, Path(d)) for diff_id, d in zip(layers, dirs)]


def holding(layers: list[tuple[str, Path]], rel: str) -> list[int]:
    """Indexes (bottom first) of the layers whose diff has `rel` (without following a last symlink)."""
    return [n for n, (_, d) in enumerate(layers) if os.path.lexists(d / rel)]


def is_whiteout(path: Path) -> bool:
    st = path.lstat()
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)


# --- every layer of every image, entry by entry, against Docker's tar -------------------------


def compare_layer(diff: Path, tar_path: Path) -> list[str]:
    """Differences between an extracted layer and its tar (empty when faithful)."""
    problems: list[str] = []
    expected: set[str] = set()
    with tarfile.open(tar_path) as tf:
        entries = list(tf)
        for ti in entries:
            name = ti.name.rstrip("/")
            if name in ("", "."):
                continue
            parent, base = os.path.split(name)
            if base == OPAQUE:
                value = (
                    os.getxattr(diff / parent, "trusted.overlay.opaque", follow_symlinks=False)
                    if "trusted.overlay.opaque" in os.listxattr(diff / parent, follow_symlinks=False)
                    else None
                )
                if value != b"y":
                    problems.append(f"{parent}: not opaque ({value!r})")
                continue
            if base.startswith(WHITEOUT):
                target = os.path.join(parent, base[len(WHITEOUT) :])
                expected.add(target)
                if not os.path.lexists(diff / target) or not is_whiteout(diff / target):
                    problems.append(f"{target}: not a 0/0 whiteout device")
                continue
            expected.add(name)
            path = diff / name
            if not os.path.lexists(path):
                problems.append(f"{name}: missing")
                continue
            st = path.lstat()
            if ti.islnk():
                if st.st_ino != (diff / ti.linkname).lstat().st_ino:
                    problems.append(f"{name}: not a hardlink of {ti.linkname}")
                continue
            kind = {
                tarfile.REGTYPE: stat.S_ISREG,
                tarfile.AREGTYPE: stat.S_ISREG,
                tarfile.DIRTYPE: stat.S_ISDIR,
                tarfile.SYMTYPE: stat.S_ISLNK,
                tarfile.FIFOTYPE: stat.S_ISFIFO,
                tarfile.CHRTYPE: stat.S_ISCHR,
                tarfile.BLKTYPE: stat.S_ISBLK,
            }[ti.type]
            if not kind(st.st_mode):
                problems.append(f"{name}: wrong type {stat.filemode(st.st_mode)}")
                continue
            if not ti.issym() and stat.S_IMODE(st.st_mode) != ti.mode & 0o7777:
                problems.append(f"{name}: mode {oct(stat.S_IMODE(st.st_mode))} != {oct(ti.mode & 0o7777)}")
            if (st.st_uid, st.st_gid) != (ti.uid, ti.gid):
                problems.append(f"{name}: owner {st.st_uid}:{st.st_gid} != {ti.uid}:{ti.gid}")
            if int(st.st_mtime) != int(ti.mtime):
                problems.append(f"{name}: mtime {int(st.st_mtime)} != {int(ti.mtime)}")
            if ti.issym() and os.readlink(path) != ti.linkname:
                problems.append(f"{name}: symlink to {os.readlink(path)!r} != {ti.linkname!r}")
            if ti.isreg() and path.read_bytes() != tf.extractfile(ti).read():
                problems.append(f"{name}: content differs")
            if (ti.ischr() or ti.isblk()) and st.st_rdev != os.makedev(ti.devmajor, ti.devminor):
                problems.append(f"{name}: device numbers differ")
    found = set()
    for dirpath, dirnames, filenames in os.walk(diff):
        for n in dirnames + filenames:
            found.add(os.path.relpath(os.path.join(dirpath, n), diff))
    for extra in sorted(found - expected):
        problems.append(f"{extra}: not in the layer tar")
    return problems


@pytest.mark.parametrize("image", IMAGES)
def test_every_layer_is_its_tar(image, inspected, fixture_tars):
    for diff_id, diff in diff_dirs(inspected, image):
        assert diff_id in fixture_tars
        problems = compare_layer(diff, fixture_tars[diff_id])
        assert problems == [], f"{image} layer {diff_id}:\n" + "\n".join(problems[:20])


# --- the zoo, one feature at a time ---------------------------------------------------------


@pytest.fixture(scope="module")
def zoo(inspected) -> list[tuple[str, Path]]:
    return diff_dirs(inspected, "zoo")


def test_whiteout_is_a_character_device(zoo):
    where = holding(zoo, "data/gone")
    assert len(where) == 2, "created in one layer, removed in a later one"
    made, removed = where
    assert (zoo[made][1] / "data/gone").read_bytes() == b"c\n"
    assert is_whiteout(zoo[removed][1] / "data/gone")
    assert removed > made
    # the same for the 1 MiB file written then deleted
    made, removed = holding(zoo, "data/big")
    assert (zoo[made][1] / "data/big").stat().st_size == 1 << 20
    assert is_whiteout(zoo[removed][1] / "data/big")
    # no literal .wh. file survives anywhere
    for _, diff in zoo:
        for dirpath, dirnames, filenames in os.walk(diff):
            assert not [n for n in dirnames + filenames if n.startswith(WHITEOUT)], dirpath


def test_opaque_directory_has_the_overlay_xattr(zoo):
    layers = holding(zoo, "data/opq")
    assert len(layers) == 2
    first, second = (zoo[n][1] / "data/opq" for n in layers)
    assert os.listdir(first) == ["b"]
    assert "trusted.overlay.opaque" not in os.listxattr(first)
    assert sorted(os.listdir(second)) == ["new"]
    assert os.getxattr(second, "trusted.overlay.opaque") == b"y"


def test_hardlink_shares_the_inode(zoo):
    (n,) = [n for n in holding(zoo, "data/hard") if os.path.lexists(zoo[n][1] / "data/keep/a")]
    diff = zoo[n][1]
    hard, a = (diff / "data/hard").stat(), (diff / "data/keep/a").stat()
    assert (hard.st_dev, hard.st_ino) == (a.st_dev, a.st_ino)
    assert hard.st_nlink == 2


def test_symlink_is_verbatim(zoo):
    (n,) = holding(zoo, "data/link")
    link = zoo[n][1] / "data/link"
    assert link.is_symlink()
    assert os.readlink(link) == "/data/keep/a"


def test_fifo(zoo):
    (n,) = holding(zoo, "data/fifo")
    assert stat.S_ISFIFO((zoo[n][1] / "data/fifo").lstat().st_mode)


def test_setuid_survives(zoo):
    where = holding(zoo, "data/keep/a")
    assert len(where) == 2, "created, then appended to (copied up) in a later layer"
    for n in where:
        mode = (zoo[n][1] / "data/keep/a").lstat().st_mode
        assert mode & stat.S_ISUID and stat.S_IMODE(mode) == 0o4755
    assert (zoo[where[-1]][1] / "data/keep/a").read_bytes() == b"a\na2\n"


def test_owner_and_mode(zoo):
    (n,) = holding(zoo, "data/sub/x")
    st = (zoo[n][1] / "data/sub/x").lstat()
    assert (st.st_uid, st.st_gid) == (1000, 1000)
    assert stat.S_IMODE(st.st_mode) == 0o640


def test_long_and_unicode_names(zoo):
    long_name = "deep/" + "d" * 60 + "/" + "e" * 60 + "/" + "f" * 150
    (n,) = holding(zoo, long_name)
    assert (zoo[n][1] / long_name).read_bytes() == b"long\n"
    (m,) = holding(zoo, "data/ünï cødé.txt")
    assert (zoo[m][1] / "data/ünï cødé.txt").read_bytes() == b"unicode\n"
    assert m == n, "made by the same RUN"
