"""Docker parity on real images (issue 15, items 14–19), each checked against the real dockerd
the suite starts: the same archive or change goes to both, and what they say must agree.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import tarfile
from functools import partial
from pathlib import Path

import pytest
from components import require
from containers_support import DRIVERS
from test_save_interop import DANGLING, empty_docker, members

BUSYBOX = "sha256:106bc139e69eba88ef6be01398e1eba4ee4819aee52c999902f6a1559ba95dd9"
BUILDER_STAGE = DANGLING[1]  # the multistage builder stage: its Parent is busybox


@pytest.fixture(scope="module")
def archive(fixtures_dir: Path) -> Path:
    return fixtures_dir / "docker" / "images.tar.gz"


def retar(files: dict[str, bytes], out: Path) -> Path:
    """A plain tar of `files`, in the given order."""
    with tarfile.open(out, "w") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return out


def history_ids(run, image: str) -> list[str]:
    return run("history", "-q", "--no-trunc", image).stdout.split()


# --- 14: Parent survives load and save, in any manifest order -------------------------------


@pytest.fixture
def child_first(dockerd, archive, tmp_path) -> Path:
    """`docker save` of the builder stage and busybox, the child listed first in manifest.json."""
    empty_docker(dockerd)
    dockerd.docker("load", "-i", archive)
    saved = tmp_path / "pair.tar"
    dockerd.docker("save", "-o", saved, BUILDER_STAGE, "busybox:latest")
    files = members(saved)
    manifest = json.loads(files["manifest.json"])
    manifest.sort(key=lambda e: e["RepoTags"] is not None)  # untagged (the child) first
    assert [e.get("Parent") for e in manifest] == [BUSYBOX, None]
    files["manifest.json"] = json.dumps(manifest).encode()
    return retar(files, tmp_path / "child-first.tar")


@pytest.mark.docker
def test_load_keeps_a_parent_listed_after_its_child(dockerd, bilge, child_first):
    empty_docker(dockerd)
    dockerd.docker("load", "-i", child_first)
    bilge("load", "-i", child_first)
    want = json.loads(dockerd.docker("image", "inspect", BUILDER_STAGE).stdout)[0]["Parent"]
    assert want == BUSYBOX
    assert json.loads(bilge("inspect", BUILDER_STAGE).stdout)[0]["Parent"] == want
    docker_history = dockerd.docker("history", "-q", "--no-trunc", BUILDER_STAGE).stdout.split()
    assert docker_history[:2] == [BUILDER_STAGE, BUSYBOX]
    assert history_ids(bilge, BUILDER_STAGE) == docker_history


@pytest.mark.docker
def test_save_writes_parent_as_docker_save_does(dockerd, bilge, child_first, tmp_path):
    bilge("load", "-i", child_first)
    ours = tmp_path / "ours.tar"
    bilge("save", "-o", ours, BUILDER_STAGE, "busybox")
    entries = json.loads(members(ours)["manifest.json"])
    docker_entries = json.loads(members(child_first)["manifest.json"])
    assert [e.get("Parent") for e in entries] == [e.get("Parent") for e in docker_entries] == [BUSYBOX, None]
    # a parent that is not saved with its child is not named (Docker's validatedParentLinks)
    alone = tmp_path / "alone.tar"
    bilge("save", "-o", alone, BUILDER_STAGE)
    assert "Parent" not in json.loads(members(alone)["manifest.json"])[0]

    empty_docker(dockerd)
    dockerd.docker("load", "-i", ours)
    assert json.loads(dockerd.docker("image", "inspect", BUILDER_STAGE).stdout)[0]["Parent"] == BUSYBOX


def test_load_refuses_a_parent_whose_history_the_child_does_not_extend(bilge, archive, tmp_path, bilge_root):
    """Docker's load fails with this message; bilge fails the same way and keeps nothing."""
    files = members(archive)
    manifest = json.loads(files["manifest.json"])
    zoo = next(e for e in manifest if e["RepoTags"] == ["zoo:latest"])
    zoo["Parent"] = BUSYBOX  # zoo's history is not busybox's plus one step
    files["manifest.json"] = json.dumps(manifest).encode()
    bad = retar(files, tmp_path / "bad-parent.tar")
    proc = bilge("load", "-i", bad, check=False)
    zoo_id = "sha256:" + zoo["Config"].removesuffix(".json")
    assert (proc.returncode, proc.stderr.strip().splitlines()) == (
        1,
        [f"Error: image {BUSYBOX} is not a valid parent for {zoo_id}"],
    )
    assert bilge("images", "-aq").stdout == ""


# --- 15: inspect prints what Docker prints ----------------------------------------------------

# What only the daemon knows: where it keeps the layers, when it last tagged.
DAEMON_KEYS = ("GraphDriver", "Metadata")


def comparable(img: dict) -> dict:
    return {k: sorted(v) if k == "RepoTags" else v for k, v in img.items() if k not in DAEMON_KEYS}


def inspect_both(dockerd, bilge, *names: str) -> tuple[list[dict], list[dict]]:
    docker = json.loads(dockerd.docker("image", "inspect", *names).stdout)
    ours = json.loads(bilge("inspect", "--", *names).stdout)
    return docker, ours


@pytest.mark.docker
def test_inspect_matches_docker_for_the_fixture_images(dockerd, bilge, archive):
    empty_docker(dockerd)
    dockerd.docker("load", "-i", archive)
    bilge("load", "-i", archive)
    names = dockerd.docker("images", "-q", "--no-trunc").stdout.split()
    assert len(set(names)) == 8
    docker, ours = inspect_both(dockerd, bilge, *names)
    for want, got in zip(docker, ours):
        assert list(got) == list(want)
        assert list(got["Config"]) == list(want["Config"])
        assert comparable(got) == comparable(want)


@pytest.fixture
def umoci_archive(tmp_path) -> Path:
    """A docker-archive of an image umoci made (an OCI config: no Hostname, Tty, …), by skopeo."""
    umoci = require("umoci", "to make an OCI image")
    skopeo = require("skopeo", "to turn the OCI layout into a docker-archive")
    layout = tmp_path / "layout"
    bundle = tmp_path / "bundle"
    run = partial(subprocess.run, check=True, capture_output=True)
    run([umoci, "init", "--layout", layout])
    run([umoci, "new", "--image", f"{layout}:t"])
    run([umoci, "unpack", "--rootless", "--image", f"{layout}:t", bundle])
    (bundle / "rootfs" / "hello").write_text("hi\n")
    run([umoci, "repack", "--image", f"{layout}:t", bundle])
    run([umoci, "config", "--image", f"{layout}:t", "--config.cmd", "/bin/true", "--config.workingdir", "/etc"])
    out = tmp_path / "umoci.tar"
    run([skopeo, "copy", "-q", f"oci:{layout}:t", f"docker-archive:{out}:umoci:t"])
    return out


@pytest.mark.docker
def test_inspect_of_an_oci_config_matches_docker(dockerd, bilge, umoci_archive):
    empty_docker(dockerd)
    dockerd.docker("load", "-i", umoci_archive)
    bilge("load", "-i", umoci_archive)
    [want], [got] = inspect_both(dockerd, bilge, "umoci:t")
    assert "Hostname" in want["Config"] and "Hostname" in want["ContainerConfig"]
    assert list(got) == list(want)
    assert comparable(got) == comparable(want)


@pytest.mark.docker
def test_inspect_of_a_commit_shows_its_message(dockerd, bilge, archive):
    empty_docker(dockerd)
    dockerd.docker("load", "-i", archive)
    bilge("load", "-i", archive)
    for run in (dockerd.docker, bilge):
        run("create", "--name", "c15", "busybox:latest")
        run("commit", "-m", "the message", "c15", "committed:15")
    [want], [got] = inspect_both(dockerd, bilge, "committed:15")
    dockerd.docker("rm", "c15")
    assert want["Comment"] == got["Comment"] == "the message"
    assert list(got) == list(want)
    for key in ("ContainerConfig", "Config"):  # the container's own name is all that differs
        assert {**got[key], "Hostname": ""} == {**want[key], "Hostname": ""}
        assert list(got[key]) == list(want[key])


# --- 16: diff lists the directories that hold changes -----------------------------------------

CHANGES = (
    "echo y > /etc/motd"  # a new file in a directory of the init layer
    " && echo y > /data/sub/x"  # a changed file two levels down
    " && echo n > /data/keep/new && rm /data/keep/a"  # an added and a deleted file side by side
    " && rm -rf /data/opq"  # a deleted directory
    " && mkdir -p /t/u/v && echo w > /t/u/v/w"  # a new tree
)


def by_path(lines: list[str]) -> list[str]:
    """Docker lists a directory's entries in Go's map order, different on every call: sorted by
    path components (bytes), as bilge lists them, with each directory before what it holds."""
    return sorted(lines, key=lambda line: [os.fsencode(p) for p in line[2:].split("/")])


@pytest.mark.docker
@pytest.mark.parametrize("driver", DRIVERS)
def test_diff_lists_what_docker_diff_lists(dockerd, ctr, archive, driver):
    empty_docker(dockerd)
    dockerd.docker("load", "-i", archive)
    dockerd.docker("run", "--name", "d16", "--network", "none", "-u", "0", "zoo:latest", CHANGES)
    want = dockerd.docker("diff", "d16").stdout.splitlines()
    dockerd.docker("rm", "d16")
    assert {"C /etc", "C /data", "C /data/sub", "C /data/sub/x", "D /data/opq", "A /t/u/v/w"} <= set(want)
    ctr("run", "--storage-driver", driver, "--name", "d16", "-u", "0", "zoo:latest", CHANGES)
    got = ctr("diff", "d16").stdout.splitlines()
    assert got == by_path(want)


# --- 18: times and whiteouts as Docker's extraction leaves them ---------------------------------

BUSYBOX_LAYERS = (  # busybox:latest's: /bin/busybox, then its links
    "f7d5c8711799de58aeb1e827956376dd4bbb74a9399d91dae6b03d7e1d743785/layer.tar",
    "56e0e42d474e3690c39a2cf4d7de7cd031486ad4f7d6792a4fe14ed286aaccf9/layer.tar",
)


def layer_tar(entries: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in entries:
            ti.size = len(data) if ti.isreg() else 0
            tf.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return buf.getvalue()


def entry(name: str, kind: bytes = tarfile.REGTYPE, mtime: float = 1_700_000_000, link: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mtime, ti.linkname, ti.mode = kind, mtime, link, 0o755 if kind == tarfile.DIRTYPE else 0o644
    return ti


def image_archive(out: Path, tag: str, layers: list[bytes]) -> Path:
    """A docker-archive of one image made of `layers` (uncompressed tars), running /bin/sh."""
    diff_ids = ["sha256:" + hashlib.sha256(data).hexdigest() for data in layers]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    files = {f"layer{i}.tar": data for i, data in enumerate(layers)}
    files["config.json"] = config
    manifest = [{"Config": "config.json", "RepoTags": [tag], "Layers": list(files)[:-1]}]
    files["manifest.json"] = json.dumps(manifest).encode()
    return retar(files, out)


# A directory's atime changes as it is read; a symlink's atime is the time it was made.
STAT = "stat -c '%n %X %Y %a' /old /olddir/f /future /new; stat -c '%n %Y %a' /olddir; stat -c '%n %Y' /oldlink"


@pytest.mark.docker
def test_extraction_sets_times_and_whiteouts_as_docker_does(dockerd, ctr, archive, tmp_path):
    layer = layer_tar(
        [
            (entry("old", mtime=-1000), b"o"),
            (entry("olddir", tarfile.DIRTYPE, mtime=-1000), b""),
            (entry("olddir/f", mtime=1000), b"f"),
            (entry("oldlink", tarfile.SYMTYPE, mtime=-1000, link="old"), b""),
            (entry("future", mtime=10**10), b"later than Go's time.Time can hold in ns"),
            (entry("new", mtime=1_700_000_000.25), b"n"),
            (entry("bin/.wh.vi"), b""),
        ]
    )
    made = image_archive(tmp_path / "times.tar", "times:18", [*map(members(archive).get, BUSYBOX_LAYERS), layer])
    empty_docker(dockerd)
    dockerd.docker("load", "-i", made)
    want = dockerd.docker("run", "--rm", "--network", "none", "times:18", "sh", "-c", STAT).stdout
    assert "/old 0 0 644" in want and "/oldlink -1000" in want
    ctr("load", "-i", made)
    got = ctr("run", "--rm", "times:18", "sh", "-c", STAT).stdout
    assert got == want

    def whiteout(run) -> tuple[int, int, int, int]:
        upper = json.loads(run("image", "inspect", "times:18").stdout)[0]["GraphDriver"]["Data"]["UpperDir"]
        st = os.lstat(Path(upper) / "bin" / "vi")
        return st.st_mode, st.st_rdev, st.st_uid, st.st_gid

    assert whiteout(ctr) == whiteout(dockerd.docker) == (stat.S_IFCHR, 0, 0, 0)
