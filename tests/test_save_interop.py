"""`bilge save` and `bilge load` against a real Docker daemon, and rule 5 (reproducible layer tars
without a second copy).

The daemon (the `dockerd` fixture) is private to this test session; every test that uses it
starts by emptying it, so the tests do not depend on each other's order.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from damage import flip_a_byte_in_top_layer

from bilge.store.core import Store

DANGLING = (
    "sha256:f0989b0bdf4866d4bb2b6a0f3f097e1a0e3f02842d3813cd0ddcbf7bcc0ab4fc",
    "sha256:6a804b3815414fe3859ce4906eb1cafe9bc26b8068f91c6c7c14816f09d19958",
)


# --- oracles --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def archive(fixtures_dir: Path) -> Path:
    return fixtures_dir / "docker" / "images.tar.gz"


@pytest.fixture(scope="module")
def tagged(fixtures_dir: Path) -> dict[str, list[str]]:
    """Image ID -> RepoTags for every tagged image in inspect.json."""
    images = json.loads((fixtures_dir / "docker" / "inspect.json").read_text())
    return {img["Id"]: sorted(img["RepoTags"]) for img in images if img["RepoTags"]}


@pytest.fixture(scope="module")
def all_tags(tagged) -> list[str]:
    return sorted(t for tags in tagged.values() for t in tags)


@pytest.fixture(scope="module")
def fixture_layers(tmp_path_factory, archive: Path) -> dict[str, int]:
    """sha256 -> size of every `<v1id>/layer.tar` in the fixture archive, extracted with tarfile."""
    dest = tmp_path_factory.mktemp("fixture")
    with tarfile.open(archive) as tf:
        tf.extractall(dest, filter="tar")
    layers = {}
    for path in dest.glob("*/layer.tar"):
        data = path.read_bytes()  # follows the symlinks docker save makes for repeated layers
        layers["sha256:" + hashlib.sha256(data).hexdigest()] = len(data)
    assert len(layers) == 15
    return layers


# --- helpers --------------------------------------------------------------------------------


def members(path: Path) -> dict[str, bytes]:
    """Regular files of a tar, by name (symlinked members resolved)."""
    out: dict[str, bytes] = {}
    links: dict[str, str] = {}
    with tarfile.open(path) as tf:
        for ti in tf:
            if ti.isreg():
                out[ti.name] = tf.extractfile(ti).read()
            elif ti.issym():
                links[ti.name] = os.path.normpath(os.path.join(os.path.dirname(ti.name), ti.linkname))
    for name, target in links.items():
        out[name] = out[target]
    return out


def saved_layers(path: Path) -> dict[str, bytes]:
    """Layer blobs named by the archive's manifest.json: name -> bytes."""
    files = members(path)
    names = {layer for item in json.loads(files["manifest.json"]) for layer in item["Layers"]}
    return {name: files[name] for name in names}


def docker_images(d) -> set[tuple[str, str, str]]:
    out = d.docker("images", "-a", "--no-trunc", "--format", "{{json .}}").stdout
    return {(r["Repository"], r["Tag"], r["ID"]) for r in map(json.loads, out.splitlines())}


def empty_docker(d) -> None:
    d.docker("image", "prune", "-a", "-f")  # removes children before parents; no containers here
    assert d.docker("images", "-aq").stdout.strip() == ""


def bilge_images(bilge) -> set[tuple[str, str, str]]:
    rows = json.loads(bilge("images", "-a", "--format", "json").stdout)
    return {(r["Repository"], r["Tag"], r["ID"]) for r in rows}


def fixture_rows(tagged, dangling=DANGLING) -> set[tuple[str, str, str]]:
    rows = {(t.rsplit(":", 1)[0], t.rsplit(":", 1)[1], i) for i, tags in tagged.items() for t in tags}
    return rows | {("<none>", "<none>", i) for i in dangling}


@pytest.fixture
def loaded(bilge, archive):
    bilge("load", "-i", archive)


@pytest.fixture(scope="module")
def store(tmp_path_factory, archive):
    """One store with the fixture loaded, for tests that only read it: (run, root)."""
    root = tmp_path_factory.mktemp("store") / "root"

    def run(*args, binary: bool = False) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "bilge", *map(str, args)],
            check=False,
            capture_output=True,
            env={**os.environ, "BILGE_ROOT": str(root)},
        )
        assert proc.returncode == 0, f"bilge {' '.join(map(str, args))}: {proc.stderr.decode()}"
        return subprocess.CompletedProcess(
            proc.args, 0, proc.stdout if binary else proc.stdout.decode(), proc.stderr.decode()
        )

    run("load", "-i", archive)
    return run, root


@pytest.fixture(scope="module")
def saved(store, tmp_path_factory, all_tags) -> Path:
    """bilge's save of every tagged image and both dangling ones."""
    out = tmp_path_factory.mktemp("saved") / "x.tar"
    store[0]("save", "-o", out, *all_tags, *DANGLING)
    return out


# --- with a real Docker daemon --------------------------------------------------------------


@pytest.mark.docker
def test_docker_loads_bilge_save(dockerd, saved, tagged):
    empty_docker(dockerd)
    dockerd.docker("load", "-i", saved)
    assert docker_images(dockerd) == fixture_rows(tagged)
    ids = sorted(tagged) + sorted(DANGLING)
    got = json.loads(dockerd.docker("image", "inspect", *ids).stdout)
    assert [img["Id"] for img in got] == ids
    for img in got:
        assert sorted(img["RepoTags"]) == tagged.get(img["Id"], [])


@pytest.mark.docker
def test_bilge_loads_docker_save(dockerd, bilge, archive, tmp_path, tagged):
    empty_docker(dockerd)
    dockerd.docker("load", "-i", archive)
    names = ["zoo:latest", "app:v1", "app:latest", DANGLING[0]]
    out = tmp_path / "from-docker.tar"
    dockerd.docker("save", "-o", out, *names)
    want = json.loads(dockerd.docker("image", "inspect", *names).stdout)

    bilge("load", "-i", out)
    got = json.loads(bilge("inspect", "--", *names).stdout)
    assert [img["Id"] for img in got] == [img["Id"] for img in want]
    for g, w in zip(got, want):
        assert g["RootFS"] == w["RootFS"]
        assert g["Config"] == w["Config"]
        assert g["Size"] == w["Size"]
    # docker save writes the names that were asked for: app:v2 was not
    assert bilge_images(bilge) == {
        ("zoo", "latest", want[0]["Id"]),
        ("app", "v1", want[1]["Id"]),
        ("app", "latest", want[2]["Id"]),
        ("<none>", "<none>", DANGLING[0]),
    }


@pytest.mark.docker
def test_docker_round_trip_keeps_layers(dockerd, saved, tmp_path, fixture_layers):
    """bilge save -> docker load -> docker save: Docker hands back the very same layer tars."""
    empty_docker(dockerd)
    dockerd.docker("load", "-i", saved)
    back = tmp_path / "back.tar"
    dockerd.docker("save", "-o", back, "zoo:latest", "app:v2", "multistage:latest")
    for data in saved_layers(back).values():
        assert "sha256:" + hashlib.sha256(data).hexdigest() in fixture_layers


# --- rule 5: the exact tars, no second copy -------------------------------------------------


def test_save_reproduces_every_layer_tar(saved, fixture_layers):
    layers = saved_layers(saved)
    got = {}
    for name, data in layers.items():
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        assert name == "blobs/sha256/" + digest.removeprefix("sha256:"), f"{name} holds {digest}"
        got[digest] = len(data)
    assert got == fixture_layers


def test_saved_configs_are_the_image_ids(saved, tagged):
    files = members(saved)
    manifest = json.loads(files["manifest.json"])
    ids = {}
    for item in manifest:
        config = files[item["Config"]]
        image_id = "sha256:" + hashlib.sha256(config).hexdigest()
        ids[image_id] = sorted(item.get("RepoTags") or [])
        diff_ids = json.loads(config)["rootfs"]["diff_ids"]
        layers = [files[name] for name in item["Layers"]]
        assert ["sha256:" + hashlib.sha256(data).hexdigest() for data in layers] == diff_ids
    assert ids == {**tagged, **{i: [] for i in DANGLING}}


def _files(root: Path) -> dict[tuple[int, int], tuple[Path, int]]:
    """Every non-directory under `root`, each inode once: (dev, ino) -> (path, st_size); but the
    reserve (free space held for the database, sized by it, no copy of anything)."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = Path(dirpath, name)
            if path == root / "reserve":
                continue
            st = path.lstat()
            seen.setdefault((st.st_dev, st.st_ino), (path, st.st_size))
    return seen


def test_no_second_copy_of_layers(store, saved, bilge, tmp_path, fixture_layers):
    bilge_root = store[1]
    layer_bytes = sum(fixture_layers.values())
    blobs = sum(size for _, size in _files(bilge_root / "blobs").values())
    assert blobs < 0.05 * layer_bytes, f"blobs/ holds {blobs} bytes for {layer_bytes} bytes of layer tars"

    files = _files(bilge_root)
    # no file in the store is a layer tar
    for path, size in files.values():
        if size in fixture_layers.values() and path.is_file() and not path.is_symlink():
            digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
            assert digest not in fixture_layers, f"{path} is a copy of layer {digest}"
    # everything the store keeps beyond the extracted files (and an empty store's own files)
    # is small beside the layers: a kept tar, compressed or not, would be megabytes
    in_diffs = sum(size for path, size in files.values() if "diff" in path.relative_to(bilge_root).parts)
    empty = tmp_path / "empty-root"
    Store(empty).close()
    baseline = sum(size for _, size in _files(empty).values())
    overhead = sum(size for _, size in files.values()) - in_diffs - baseline
    assert overhead < 0.05 * layer_bytes, f"{overhead} bytes beside the extracted layers"


def test_save_to_stdout_equals_save_to_file(store, saved, all_tags):
    again = store[0]("save", *all_tags, *DANGLING, binary=True).stdout
    assert again == saved.read_bytes()


def test_save_refuses_a_terminal(store):
    bilge_root = store[1]
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bilge", "save", "busybox"],
            check=False,
            stdout=follower,
            stderr=subprocess.PIPE,
            env={**os.environ, "BILGE_ROOT": str(bilge_root)},
            timeout=60,
        )
    finally:
        os.close(follower)
    os.set_blocking(leader, False)
    try:
        written = os.read(leader, 1 << 16)
    except (BlockingIOError, OSError):
        written = b""
    os.close(leader)
    assert proc.returncode != 0
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    assert "terminal" in lines[0].lower(), lines[0]
    assert b"manifest.json" not in written and len(written) < 512


def test_save_of_a_damaged_layer_fails_cleanly(loaded, bilge, bilge_root, tmp_path):
    flip_a_byte_in_top_layer(bilge, "app:v1")
    outdir = tmp_path / "out"
    outdir.mkdir()
    proc = bilge("save", "-o", outdir / "x.tar", "app:v1", check=False)
    assert proc.returncode != 0, "save wrote a layer that does not hash to its diff_id"
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(outdir.iterdir()) == []


# --- bilge reads what it writes --------------------------------------------------------------


def _rows_of(run) -> set[tuple[str, str, str, int]]:
    return {
        (r["Repository"], r["Tag"], r["ID"], r["Size"])
        for r in json.loads(run("images", "-a", "--format", "json").stdout)
    }


@pytest.mark.parametrize("layout", ["both", "oci-only"])
def test_bilge_loads_its_own_save(layout, store, saved, bilge, tmp_path):
    """The archive carries manifest.json and an OCI layout (as Docker 25+ writes); either one
    alone is enough to get the same images, names and sizes back."""
    path = saved
    if layout == "oci-only":
        path = tmp_path / "oci-only.tar"
        with tarfile.open(saved) as src, tarfile.open(path, "w") as dst:
            for ti in src:
                if ti.name != "manifest.json":
                    dst.addfile(ti, src.extractfile(ti) if ti.isreg() else None)
    bilge("load", "-i", path)
    assert _rows_of(bilge) == _rows_of(store[0])


# --- --format: Docker's Go templates, against Docker itself ------------------------------------


TEMPLATES = [
    "{{.Repository}}:{{.Tag}}",
    "table {{.ID}}\\t{{.Size}}",
    "{{json .}}",
    "table {{.Repository}}\\t{{.Tag}}\\t{{.VirtualSize}}",
    "{{.ID}} {{upper .Repository}} {{lower .Tag}}",
]


@pytest.mark.docker
def test_images_templates_print_what_docker_prints(dockerd, store, archive):
    """The same archive loaded into both; each template's output line for line (a table's
    header first), the lines compared as sets, since Docker leaves images created in the same
    second in no set order. CreatedSince ("N seconds ago") is masked: the clocks differ."""
    empty_docker(dockerd)
    dockerd.docker("load", "-i", archive)

    def masked(lines: list[str]) -> list[str]:
        return sorted(re.sub(r'"CreatedSince":"[^"]*"', '"CreatedSince":""', line) for line in lines)

    for fmt in TEMPLATES:
        want = dockerd.docker("images", "--format", fmt).stdout.splitlines()
        got = store[0]("images", "--format", fmt).stdout.splitlines()
        if fmt.startswith("table"):
            assert got[0] == want[0], fmt
            got, want = got[1:], want[1:]
        assert masked(got) == masked(want), fmt
        assert len(got) == 9, fmt
