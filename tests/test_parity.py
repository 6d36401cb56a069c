"""Docker parity on real images (issue 15, items 14–19), each checked against the real dockerd
the suite starts: the same archive or change goes to both, and what they say must agree.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import lzma
import os
import stat
import subprocess
import tarfile
from functools import partial
from pathlib import Path

import pytest
import test_save_interop
from components import require
from containers_support import needs_containers
from test_save_interop import DANGLING, empty_docker, members, saved_layers

BUSYBOX = "sha256:106bc139e69eba88ef6be01398e1eba4ee4819aee52c999902f6a1559ba95dd9"
BUILDER_STAGE = DANGLING[1]  # the multistage builder stage: its Parent is busybox

# That module's fixtures, module-scoped here too: the fixture archive, and a store holding it.
archive = test_save_interop.archive
store = test_save_interop.store


@pytest.fixture(scope="module")
def both(dockerd, store, archive):
    """The daemon and a bilge store (`store`'s runner) both holding the fixture images, for the
    tests that only add images and containers of their own names: loading it once saves seconds."""
    empty_docker(dockerd)
    dockerd.docker("load", "-i", archive)
    run = store[0]
    yield run
    left = run("ps", "-aq", "--no-trunc").stdout.split()
    if left:
        run("rm", "-f", *left)


@pytest.fixture
def containers(both):
    """`both`, for a test that runs containers."""
    needs_containers()
    return both


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


@pytest.fixture(scope="module")
def child_first(dockerd, archive, tmp_path_factory) -> Path:
    """`docker save` of the builder stage and busybox, the child listed first in manifest.json."""
    empty_docker(dockerd)
    dockerd.docker("load", "-i", archive)
    tmp_path = tmp_path_factory.mktemp("child-first")
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
def test_inspect_matches_docker_for_the_fixture_images(dockerd, both, archive):
    names = ["sha256:" + e["Config"].removesuffix(".json") for e in json.loads(members(archive)["manifest.json"])]
    assert len(set(names)) == 8
    docker, ours = inspect_both(dockerd, both, *names)
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
def test_inspect_of_an_oci_config_matches_docker(dockerd, both, umoci_archive):
    dockerd.docker("load", "-i", umoci_archive)
    both("load", "-i", umoci_archive)
    [want], [got] = inspect_both(dockerd, both, "umoci:t")
    assert "Hostname" in want["Config"] and "Hostname" in want["ContainerConfig"]
    assert list(got) == list(want)
    assert comparable(got) == comparable(want)


@pytest.mark.docker
def test_inspect_of_a_commit_shows_its_message(dockerd, both):
    for run in (dockerd.docker, both):
        run("create", "--name", "c15", "busybox:latest")
        run("commit", "-m", "the message", "c15", "committed:15")
    [want], [got] = inspect_both(dockerd, both, "committed:15")
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
def test_diff_lists_what_docker_diff_lists(dockerd, containers):
    """On overlay; test_containers_rootfs checks that vfs lists the same."""
    dockerd.docker("run", "--name", "d16", "--network", "none", "-u", "0", "zoo:latest", CHANGES)
    want = dockerd.docker("diff", "d16").stdout.splitlines()
    dockerd.docker("rm", "d16")
    assert {"C /etc", "C /data", "C /data/sub", "C /data/sub/x", "D /data/opq", "A /t/u/v/w"} <= set(want)
    containers("run", "--storage-driver", "overlay", "--name", "d16", "-u", "0", "zoo:latest", CHANGES)
    got = containers("diff", "d16").stdout.splitlines()
    assert got == by_path(want)


# --- 18: times and whiteouts as Docker's extraction leaves them ---------------------------------

BUSYBOX_BASE = "f7d5c8711799de58aeb1e827956376dd4bbb74a9399d91dae6b03d7e1d743785/layer.tar"  # just /bin/busybox


def busybox(script: str) -> tuple[str, ...]:
    """A container command for an image on BUSYBOX_BASE, which has no applet links."""
    return ("/bin/busybox", "sh", "-c", script)


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


def image_archive(out: Path, tag: str, layers: list[bytes], **config: object) -> Path:
    """A docker-archive of one image made of `layers` (uncompressed tars), `config` added to
    its runtime config."""
    diff_ids = ["sha256:" + hashlib.sha256(data).hexdigest() for data in layers]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/busybox", "sh"], **config},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    files = {f"layer{i}.tar": data for i, data in enumerate(layers)}
    files["config.json"] = config
    manifest = [{"Config": "config.json", "RepoTags": [tag], "Layers": list(files)[:-1]}]
    files["manifest.json"] = json.dumps(manifest).encode()
    return retar(files, out)


# A directory's atime changes as it is read; a symlink's atime is the time it was made.
STAT = busybox(
    "busybox stat -c '%n %X %Y %a' /old /olddir/f /future /new;"
    " busybox stat -c '%n %Y %a' /olddir; busybox stat -c '%n %Y' /oldlink"
)


@pytest.mark.docker
def test_extraction_sets_times_and_whiteouts_as_docker_does(dockerd, containers, archive, tmp_path):
    layer = layer_tar(
        [
            (entry("old", mtime=-1000), b"o"),
            (entry("olddir", tarfile.DIRTYPE, mtime=-1000), b""),
            (entry("olddir/f", mtime=1000), b"f"),
            (entry("oldlink", tarfile.SYMTYPE, mtime=-1000, link="old"), b""),
            (entry("future", mtime=10**10), b"later than Go's time.Time can hold in ns"),
            (entry("new", mtime=1_700_000_000.25), b"n"),
            (entry(".wh.gone"), b""),
        ]
    )
    lower = layer_tar([(entry("gone"), b"to be whited out")])
    made = image_archive(tmp_path / "times.tar", "times:18", [members(archive)[BUSYBOX_BASE], lower, layer])
    dockerd.docker("load", "-i", made)
    want = dockerd.docker("run", "--rm", "--network", "none", "times:18", *STAT).stdout
    assert "/old 0 0 644" in want and "/oldlink -1000" in want
    containers("load", "-i", made)
    got = containers("run", "--rm", "times:18", *STAT).stdout
    assert got == want

    def whiteout(run) -> tuple[int, int, int, int]:
        upper = json.loads(run("image", "inspect", "times:18").stdout)[0]["GraphDriver"]["Data"]["UpperDir"]
        st = os.lstat(Path(upper) / "gone")
        return st.st_mode, st.st_rdev, st.st_uid, st.st_gid

    assert whiteout(containers) == whiteout(dockerd.docker) == (stat.S_IFCHR, 0, 0, 0)


# --- 19: xz and bzip2, and GNU sparse files in PAX archives -----------------------------------

SPARSE_VERSIONS = ("0.0", "0.1", "1.0")  # GNU tar's PAX encodings of a sparse file


def sparse_layer(tmp_path: Path, version: str) -> bytes:
    """GNU tar's PAX archive of a 1 MiB file that is mostly holes."""
    gnu_tar = require("tar", "to make sparse archives")
    src = tmp_path / f"src{version}"
    (src / f"s{version}").mkdir(parents=True)
    with open(src / f"s{version}" / "hole", "wb") as f:
        f.truncate(1 << 20)
        f.seek(300_000)
        f.write(b"data in the middle")
        f.seek((1 << 20) - 3)
        f.write(b"end")
    out = tmp_path / f"sparse{version}.tar"
    cmd = [gnu_tar, "--sparse", f"--sparse-version={version}", "--format=pax", "-C", src, "-cf", out, f"s{version}"]
    subprocess.run(cmd, check=True)
    return out.read_bytes()


def compressed(data: bytes, kind: str) -> bytes:
    return lzma.compress(data, preset=1) if kind == "xz" else bz2.compress(data, compresslevel=1)


def layer_dirs(run, image: str) -> list[Path]:
    """Where the image's layers are extracted, on the host."""
    data = json.loads(run("image", "inspect", image).stdout)[0]["GraphDriver"]["Data"]
    return [Path(d) for d in [data["UpperDir"], *filter(None, data.get("LowerDir", "").split(":"))]]


def extracted(dirs: list[Path], name: str) -> bytes:
    [path] = [d / name for d in dirs if (d / name).exists()]
    return path.read_bytes()


@pytest.mark.docker
def test_xz_bzip2_and_sparse_load_as_docker_loads_them(dockerd, both, tmp_path):
    layers = [sparse_layer(tmp_path, v) for v in SPARSE_VERSIONS]
    plain = image_archive(tmp_path / "plain.tar", "sparse:19", layers)
    # xz- and bzip2-compressed layers in an xz-compressed archive; plain ones in a bzip2 one
    files = members(plain)
    files["layer0.tar"], files["layer1.tar"] = compressed(layers[0], "xz"), compressed(layers[1], "bzip2")
    archives = {
        "xz": compressed(retar(files, tmp_path / "inner.tar").read_bytes(), "xz"),
        "bzip2": compressed(plain.read_bytes(), "bzip2"),
    }
    for kind, data in archives.items():
        (tmp_path / kind).write_bytes(data)
        dockerd.docker("load", "-i", tmp_path / kind)
        want_id = json.loads(dockerd.docker("image", "inspect", "sparse:19").stdout)[0]["Id"]
        both("load", "-i", tmp_path / kind)
        assert json.loads(both("inspect", "sparse:19").stdout)[0]["Id"] == want_id, kind
    docker_dirs, our_dirs = layer_dirs(dockerd.docker, "sparse:19"), layer_dirs(both, "sparse:19")
    for version in SPARSE_VERSIONS:
        want = extracted(docker_dirs, f"s{version}/hole")
        assert len(want) == 1 << 20 and want.strip(b"\0") == b"data in the middle" + bytes(748_555) + b"end"
        assert extracted(our_dirs, f"s{version}/hole") == want, version

    # save gives back the very layer tars GNU tar wrote, and Docker loads them as the same image
    ours = tmp_path / "ours.tar"
    both("save", "-o", ours, "sparse:19")
    assert sorted(saved_layers(ours).values()) == sorted(layers)
    dockerd.docker("rmi", "sparse:19")
    dockerd.docker("load", "-i", ours)
    assert json.loads(dockerd.docker("image", "inspect", "sparse:19").stdout)[0]["Id"] == want_id


# --- 17: a VOLUME path can be written ------------------------------------------------------------

WRITE_VOLUMES = busybox('busybox stat -c "%n %a %u:%g" /data /kept /a /a/b && echo x > /data/f && busybox cat /kept/k')


@pytest.mark.docker
def test_volume_paths_are_directories_as_docker_makes_them(dockerd, containers, archive, tmp_path):
    kept = entry("kept", tarfile.DIRTYPE)
    kept.mode, kept.uid, kept.gid = 0o700, 1000, 1000
    layer = layer_tar([(kept, b""), (entry("kept/k"), b"k\n")])
    volumes = {"/data": {}, "/kept": {}, "/a/b": {}}
    made = image_archive(
        tmp_path / "volumes.tar", "volumes:17", [members(archive)[BUSYBOX_BASE], layer], Volumes=volumes
    )
    dockerd.docker("load", "-i", made)
    want = dockerd.docker("run", "--name", "v17", "--network", "none", "volumes:17", *WRITE_VOLUMES)
    docker_diff = dockerd.docker("diff", "v17").stdout.splitlines()
    dockerd.docker("rm", "-v", "v17")
    assert want.stdout.splitlines() == ["/data 755 0:0", "/kept 700 1000:1000", "/a 755 0:0", "/a/b 755 0:0", "k"]

    containers("load", "-i", made)
    got = containers("run", "--name", "v17", "volumes:17", *WRITE_VOLUMES)
    assert got.stdout == want.stdout
    # the mount points are Docker's; what was written stays in the layer, as there is no volume
    assert containers("diff", "v17").stdout.splitlines() == by_path([*docker_diff, "A /data/f"])
