"""Crafted hostile archives (tests/hostile.py): a clear one-line error, nothing written outside the
store, and the store exactly as it was (design rules 6 and 7).
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import hostile as h
import pytest
from attack import listing, rows

LIMIT_BYTES = 8 << 20
LIMIT_ENTRIES = 256
LIMITS = {"BILGE_MAX_LAYER_BYTES": str(LIMIT_BYTES), "BILGE_MAX_LAYER_ENTRIES": str(LIMIT_ENTRIES)}
VICTIM_NAME = "bilge-victim"  # a host file a test makes itself, in its tmp dir


def _good() -> bytes:
    return h.sample_layer()


def _first_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _hardlink_via_symlink(victim: Path) -> bytes:
    """`evil -> <victim's dir>`, then `x` hardlinked to `evil/<victim>`: link(2) would follow evil."""
    return h.tar([h.symlink("evil", str(victim.parent)), h.hardlink("x", f"evil/{victim.name}")])


def _symlink_chain() -> bytes:
    """`a -> b`, `b -> ../../…/tmp`, then a file under `a/`: only resolving both links shows the escape."""
    return h.tar([h.symlink("a", "b"), h.symlink("b", h.climb("/tmp")), h.file("a/" + os.path.basename(h.MARKER))])


# name -> builder(victim path) of the whole archive; every one of them must be refused
CASES: dict[str, Callable[[Path], bytes]] = {
    "traversal": lambda v: h.docker_archive([h.path_traversal()]),
    "traversal-shallow": lambda v: h.docker_archive([h.path_traversal("evil", 2)]),
    "absolute-path": lambda v: h.docker_archive([h.absolute_path()]),
    "symlink-write-through-absolute": lambda v: h.docker_archive([h.symlink_write_through()]),
    "symlink-write-through-relative": lambda v: h.docker_archive([h.symlink_write_through(relative=True)]),
    "symlink-chain-write-through": lambda v: h.docker_archive([_symlink_chain()]),
    "hardlink-to-etc-passwd": lambda v: h.docker_archive([h.hardlink_outside()]),
    "hardlink-then-overwrite": lambda v: h.docker_archive([h.hardlink_outside(str(v), overwrite=h.PAYLOAD)]),
    "hardlink-through-symlink": lambda v: h.docker_archive([_hardlink_via_symlink(v)]),
    "bare-whiteout": lambda v: h.docker_archive([h.bare_whiteout()]),
    "bare-whiteout-dot": lambda v: h.docker_archive([h.bare_whiteout(".")]),
    "bare-whiteout-dotdot": lambda v: h.docker_archive([h.bare_whiteout("..")]),
    "tar-bomb": lambda v: h.docker_archive([h.tar_bomb(2 * LIMIT_BYTES)]),
    "too-many-entries": lambda v: h.docker_archive([h.too_many_entries(LIMIT_ENTRIES * 4)]),
    "truncated-gzip": lambda v: h.docker_archive([h.truncated_gzip()], diff_ids=[h.diff_id(_good())]),
    "corrupt-gzip": lambda v: h.docker_archive([h.corrupt_gzip()], diff_ids=[h.diff_id(_good())]),
    "truncated-tar": lambda v: h.docker_archive([h.truncated_tar()]),
    "wrong-diff-id": lambda v: h.docker_archive([_good()], diff_ids=[h.diff_id(h.tar([h.file("other")]))]),
    "good-layer-then-traversal": lambda v: h.docker_archive([h.gzip_bytes(_good()), h.path_traversal()]),
    "garbage": lambda v: bytes(hashlib.sha256(str(n).encode()).digest()[n % 32] for n in range(20000)),
    "truncated-archive": lambda v: _first_half(h.docker_archive([_good()])),
}

# "what and where" (rule 7): the error names the offending entry
WHERE = {
    "traversal": os.path.basename(h.MARKER),
    "traversal-shallow": "evil",
    "absolute-path": os.path.basename(h.MARKER),
    "symlink-write-through-absolute": "evil/",
    "symlink-write-through-relative": "evil/",
    "symlink-chain-write-through": "a/",
    "hardlink-to-etc-passwd": "link",
    "hardlink-then-overwrite": "link",
    "bare-whiteout": ".wh.",
    "good-layer-then-traversal": os.path.basename(h.MARKER),
}

# ... and says what went wrong in words a person can act on (any one of these, case-insensitive)
WHAT = {
    "tar-bomb": ("limit", "too large", "too big"),
    "too-many-entries": ("entries", "limit"),
    "truncated-gzip": ("truncated", "unexpected end", "eof", "incomplete"),
    "corrupt-gzip": ("corrupt", "crc", "check", "invalid"),
    "truncated-tar": ("truncated", "ends", "unexpected end", "eof", "short"),
    "wrong-diff-id": ("diff_id", "digest"),
    "hardlink-through-symlink": ("symlink", "outside", "escape"),
}

# these also go through stdin, the other way in
STDIN_CASES = ["symlink-write-through-absolute", "corrupt-gzip"]


# --- the store before and after -------------------------------------------------------------


@pytest.fixture(scope="module")
def empty_listing(tmp_path_factory) -> list[str]:
    """What a fresh store holds once a command that makes one (load, pull) has opened it."""
    from bilge.store.core import Store

    root = tmp_path_factory.mktemp("empty") / "root"
    Store(root).close()
    return listing(root)


def fingerprint(path: str) -> tuple:
    st = os.stat(path)
    with open(path, "rb") as f:
        return st.st_ino, st.st_nlink, st.st_size, st.st_mtime_ns, hashlib.sha256(f.read()).hexdigest()


def inodes_under(root: Path) -> set[tuple[int, int]]:
    out = set()
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            st = os.lstat(os.path.join(dirpath, name))
            out.add((st.st_dev, st.st_ino))
    return out


def layer_digests(archive: bytes) -> set[str]:
    """sha256 of each layer a saved archive's manifest.json names."""
    import io
    import json
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(archive)) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))
        names = {layer for item in manifest for layer in item["Layers"]}
        return {hashlib.sha256(tf.extractfile(name).read()).hexdigest() for name in names}


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / VICTIM_NAME
    path.write_bytes(b"the victim's own bytes\n")
    return path


def assert_refused(proc) -> None:
    assert proc.returncode != 0, f"hostile archive was accepted: {proc.stdout}"
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected one line, got: {proc.stderr!r}"
    assert lines[0].startswith("Error: ") and len(lines[0]) > len("Error: ") + 8, lines[0]
    assert "internal error" not in lines[0], lines[0]
    assert proc.stdout.strip() == "", proc.stdout


def assert_untouched(bilge, root: Path, victim: Path, before: dict, empty: list[str]) -> None:
    assert h.escaped() == []
    assert fingerprint("/etc/passwd") == before["passwd"]
    assert fingerprint(str(victim)) == before["victim"]
    outside = {(os.stat(p).st_dev, os.stat(p).st_ino) for p in ("/etc/passwd", victim)}
    assert not outside & inodes_under(root), "a store file shares an inode with a host file"
    assert not (root.parent / "evil").exists() and not (root / "evil").exists()
    assert rows(root) == {"images": 0, "layers": 0, "tags": 0, "image_layers": 0, "leases": 0}
    assert list((root / "ingest").iterdir()) == []
    assert [p.name for p in (root / "layers").iterdir()] == ["l"]
    assert list((root / "layers" / "l").iterdir()) == []
    assert listing(root) == empty
    bilge("check")


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_archive_is_refused(case, bilge, bilge_root, tmp_path, victim, empty_listing):
    path = tmp_path / "hostile.tar"
    path.write_bytes(CASES[case](victim))
    before = {"passwd": fingerprint("/etc/passwd"), "victim": fingerprint(str(victim))}
    proc = bilge("load", "-i", path, check=False, env=LIMITS)
    assert_refused(proc)
    if case in WHERE:
        assert WHERE[case] in proc.stderr, f"the error does not say where: {proc.stderr!r}"
    if case in WHAT:
        assert any(word in proc.stderr.lower() for word in WHAT[case]), f"the error does not say what: {proc.stderr!r}"
    assert_untouched(bilge, bilge_root, victim, before, empty_listing)


@pytest.mark.parametrize("case", STDIN_CASES)
def test_hostile_archive_on_stdin_is_refused(case, bilge, bilge_root, victim, empty_listing):
    before = {"passwd": fingerprint("/etc/passwd"), "victim": fingerprint(str(victim))}
    proc = bilge("load", input=CASES[case](victim), check=False, env=LIMITS)
    assert_refused(proc)
    assert_untouched(bilge, bilge_root, victim, before, empty_listing)


def test_refused_load_keeps_what_the_store_had(bilge, bilge_root, tmp_path, victim):
    """A store with an image in it: a hostile load afterwards leaves that image exactly as it was."""
    good = tmp_path / "good.tar"
    good.write_bytes(h.docker_archive([h.gzip_bytes(_good())], repo_tag="good:1"))
    bilge("load", "-i", good)
    state = (rows(bilge_root), listing(bilge_root), bilge("images", "--format", "json").stdout)
    for case in ("symlink-write-through-relative", "good-layer-then-traversal"):
        bad = tmp_path / f"{case}.tar"
        bad.write_bytes(CASES[case](victim))
        assert_refused(bilge("load", "-i", bad, check=False, env=LIMITS))
        assert (rows(bilge_root), listing(bilge_root), bilge("images", "--format", "json").stdout) == state, case
    assert h.escaped() == []
    bilge("check")
    # and the good image still saves to the exact layer it came with
    assert layer_digests(bilge("save", "good:1", binary=True).stdout) == {hashlib.sha256(_good()).hexdigest()}


# --- the limits are limits, not bans ---------------------------------------------------------


def test_layers_within_the_limits_load(bilge, bilge_root, tmp_path):
    layers = [h.gzip_bytes(_good()), h.too_many_entries(LIMIT_ENTRIES // 2), h.tar_bomb(LIMIT_BYTES // 2)]
    path = tmp_path / "fine.tar"
    path.write_bytes(h.docker_archive(layers, repo_tag="fine:1"))
    proc = bilge("load", "-i", path, env=LIMITS)
    assert proc.stdout.splitlines() == ["Loaded image: fine:1"]
    assert rows(bilge_root)["layers"] == 3


def test_benign_links_inside_the_layer_load_verbatim(bilge, bilge_root, tmp_path, victim):
    """What real images carry: absolute symlinks (kept verbatim, never followed) and hardlinks,
    including a hardlink to a symlink that points at a host file (it must link the symlink), and
    a directory entry replacing an earlier symlink `evil -> /tmp` (as Docker does: the symlink
    goes, a real directory takes its place, and what follows lands inside the layer)."""
    marker = os.path.basename(h.MARKER)
    layer = h.tar(
        [
            h.directory("etc"),
            h.file("etc/real", b"real\n"),
            h.symlink("etc/abs", "/etc/passwd"),
            h.symlink("etc/to-victim", str(victim)),
            h.hardlink("etc/hard", "etc/real"),
            h.hardlink("etc/hard-to-symlink", "etc/to-victim"),
            h.symlink("evil", "/tmp"),
            h.directory("evil"),
            h.file(f"evil/{marker}"),
        ]
    )
    path = tmp_path / "links.tar"
    path.write_bytes(h.docker_archive([layer], repo_tag="links:1"))
    before = fingerprint(str(victim))
    bilge("load", "-i", path)
    import json

    diff = Path(json.loads(bilge("inspect", "links:1").stdout)[0]["GraphDriver"]["Data"]["UpperDir"])
    assert os.readlink(diff / "etc" / "abs") == "/etc/passwd"
    assert os.readlink(diff / "etc" / "to-victim") == str(victim)
    assert os.readlink(diff / "etc" / "hard-to-symlink") == str(victim)
    assert (diff / "etc" / "hard").stat().st_ino == (diff / "etc" / "real").stat().st_ino
    assert fingerprint(str(victim)) == before
    assert os.stat(victim).st_nlink == 1
    assert (diff / "evil").is_dir() and not (diff / "evil").is_symlink()
    assert (diff / "evil" / marker).read_bytes() == h.PAYLOAD
    assert h.escaped() == []
    # and it saves back to the very same tar
    assert layer_digests(bilge("save", "links:1", binary=True).stdout) == {hashlib.sha256(layer).hexdigest()}


def _metadata_through_links(victim_dir: Path) -> bytes:
    """Entries whose metadata, applied naively, lands on the host through a symlink: a hardlink
    to a symlink (chmod follows it), a directory later replaced by a symlink, and a directory
    whose parent is later replaced by one (its metadata is applied last, at the end)."""
    file_victim, dir_victim = victim_dir / "file", victim_dir / "dir"
    hard = h._info("h", tarfile.LNKTYPE, mode=0o4777, linkname="s")
    return h.tar(
        [
            h.symlink("s", str(file_victim)),
            (hard, None),
            h.directory("d", mode=0o777),
            h.symlink("d", str(dir_victim)),
            h.directory("p", mode=0o755),
            h.directory("p/sub", mode=0o4777),
            h.symlink("p", str(victim_dir)),
        ]
    )


def test_metadata_never_follows_a_symlink_out_of_the_layer(bilge, bilge_root, tmp_path):
    victim_dir = tmp_path / "host"
    (victim_dir / "dir").mkdir(parents=True)
    (victim_dir / "sub").mkdir()
    (victim_dir / "file").write_text("host\n")
    for path in (victim_dir / "file", victim_dir / "dir", victim_dir / "sub"):
        os.chmod(path, 0o700)

    def meta(path: Path) -> tuple:
        st = os.lstat(path)
        return st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns

    before = {p: meta(p) for p in (victim_dir / "file", victim_dir / "dir", victim_dir / "sub")}
    archive = tmp_path / "links.tar"
    archive.write_bytes(h.docker_archive([_metadata_through_links(victim_dir)], "links:1"))
    bilge("load", "-i", archive, check=False)
    assert {p: meta(p) for p in before} == before
