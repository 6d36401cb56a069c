"""`bilge load` of the archive real Docker saved gives exactly what Docker had.

The oracles are ../shared/fixtures/docker: `inspect.json` (ids, tags, configs, diff_ids),
`api-system-df.json` (exact sizes, LayersSize), `history.jsonl` and `images-a.jsonl`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sqlite3
import tarfile
from pathlib import Path

import pytest
from terminal import run_on_terminal

# The parts of `docker image inspect` that come from the image config (everything but Parent,
# which depends on what else the daemon held, and the daemon's own bookkeeping).
CONFIG_KEYS = (
    "Config",
    "ContainerConfig",
    "Container",
    "Architecture",
    "Os",
    "Created",
    "DockerVersion",
    "Author",
    "Comment",
)


# --- oracles --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def archive(fixtures_dir: Path) -> Path:
    return fixtures_dir / "docker" / "images.tar.gz"


@pytest.fixture(scope="module")
def docker_inspect(fixtures_dir: Path) -> dict[str, dict]:
    """inspect.json by image ID (the file lists one image twice)."""
    return {img["Id"]: img for img in json.loads((fixtures_dir / "docker" / "inspect.json").read_text())}


@pytest.fixture(scope="module")
def system_df(fixtures_dir: Path) -> dict:
    return json.loads((fixtures_dir / "docker" / "api-system-df.json").read_text())


@pytest.fixture(scope="module")
def tagged(docker_inspect: dict[str, dict]) -> dict[str, dict]:
    return {i: img for i, img in docker_inspect.items() if img["RepoTags"]}


@pytest.fixture(scope="module")
def dangling(system_df: dict) -> dict[str, int]:
    """The two dangling images `docker system df` counted: ID -> Size."""
    found = {img["Id"]: img["Size"] for img in system_df["Images"] if img["RepoTags"] == ["<none>:<none>"]}
    assert len(found) == 2, "the fixture's system df lists two dangling images"
    return found


@pytest.fixture(scope="module")
def saved_manifest(archive: Path) -> list[dict]:
    with tarfile.open(archive) as tf:
        return json.load(tf.extractfile("manifest.json"))


def chain_ids(diff_ids: list[str]) -> list[str]:
    """OCI chain IDs: C0 = D0, Cn = sha256(C(n-1) + " " + Dn)."""
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


def docker_human(size: float) -> str:
    """go-units HumanSizeWithPrecision(size, 3), as `docker history` and `docker images` print sizes."""
    units = ["B", "kB", "MB", "GB", "TB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.3g}{units[i]}"


# --- reading the store ----------------------------------------------------------------------


def query(root: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(root / "bilge.db")
    try:
        return sorted(con.execute(sql).fetchall(), key=repr)
    finally:
        con.close()


def snapshot(root: Path) -> dict[str, list[tuple]]:
    """Everything a load decides: images, their chains, layers with sizes, names."""
    return {
        "images": query(root, "SELECT id, parent, architecture, os FROM images"),
        "image_layers": query(root, "SELECT image_id, position, chain_id FROM image_layers"),
        "layers": query(root, "SELECT chain_id, diff_id, parent, size FROM layers"),
        "tags": query(root, "SELECT repository, tag, image_id FROM tags"),
    }


def inspect(bilge, *names: str) -> list[dict]:
    return json.loads(bilge("inspect", "--", *names).stdout)


def table(text: str) -> list[dict[str, str]]:
    """Parse a plain table by the offsets of its header words (values are left-aligned)."""
    lines = text.rstrip("\n").split("\n")
    header = lines[0]
    # headers may hold one space ("IMAGE ID", "CREATED BY"): find each by position in order
    starts, pos = [], 0
    for raw in [h for h in header.split("  ") if h.strip()]:
        pos = header.index(raw.strip(), pos)
        starts.append((raw.strip(), pos))
        pos += len(raw.strip())
    rows = []
    for line in lines[1:]:
        row = {}
        for n, (name, start) in enumerate(starts):
            end = starts[n + 1][1] if n + 1 < len(starts) else None
            row[name] = line[start:end].strip()
        rows.append(row)
    return rows


def _runner(root: Path):
    """`run(*args)`: bilge against `root`, like the harness's `bilge` (asserts exit 0)."""
    import os
    import subprocess
    import sys

    def run(*args) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "bilge", *map(str, args)],
            check=False,
            capture_output=True,
            text=True,
            env={**os.environ, "BILGE_ROOT": str(root)},
        )
        assert proc.returncode == 0, f"bilge {' '.join(map(str, args))}: {proc.stderr}"
        return proc

    return run


@pytest.fixture(scope="module")
def shared(tmp_path_factory, archive: Path):
    """One store with the fixture loaded, for the tests that only read: (run, root, load result)."""
    root = tmp_path_factory.mktemp("loaded") / "root"
    run = _runner(root)
    return run, root, run("load", "-i", archive)


@pytest.fixture
def loaded(bilge, bilge_root: Path, archive: Path):
    """A store of the test's own with the fixture archive loaded; the load's CompletedProcess."""
    return bilge("load", "-i", archive)


# --- identity -------------------------------------------------------------------------------


def test_load_prints_docker_lines(shared, saved_manifest):
    _, _, loaded = shared
    want = []
    for item in saved_manifest:
        if item.get("RepoTags"):
            want += [f"Loaded image: {t}" for t in item["RepoTags"]]
        else:
            want.append(f"Loaded image ID: sha256:{item['Config'].removesuffix('.json')}")
    assert loaded.stdout.splitlines() == want


def test_tagged_images_are_exactly_dockers(shared, tagged):
    bilge = shared[0]
    got = {img["Id"]: img for img in inspect(bilge, *tagged)}
    assert set(got) == set(tagged)
    for image_id, want in tagged.items():
        img = got[image_id]
        assert sorted(img["RepoTags"]) == sorted(want["RepoTags"]), image_id
        assert img["RootFS"] == want["RootFS"], image_id
        for key in CONFIG_KEYS:
            assert img[key] == want[key], f"{image_id} {key}"


def test_each_tag_resolves_to_dockers_id(shared, tagged):
    bilge = shared[0]
    names = [(tag, image_id) for image_id, img in tagged.items() for tag in img["RepoTags"]]
    got = inspect(bilge, *(tag for tag, _ in names))
    assert [img["Id"] for img in got] == [image_id for _, image_id in names]


def test_store_holds_exactly_the_saved_images(shared, tagged, dangling, docker_inspect):
    bilge_root = shared[1]
    assert {row[0] for row in query(bilge_root, "SELECT id FROM images")} == set(tagged) | set(dangling)
    want_tags = {
        (f"docker.io/library/{t.split(':')[0]}", t.split(":")[1], i)
        for i, img in tagged.items()
        for t in img["RepoTags"]
    }
    assert set(query(bilge_root, "SELECT repository, tag, image_id FROM tags")) == want_tags
    # every layer row is a chain ID of one of those images, and each image's chain is Docker's
    want_chains = {c for i in set(tagged) | set(dangling) for c in chain_ids(docker_inspect[i]["RootFS"]["Layers"])}
    assert {row[0] for row in query(bilge_root, "SELECT chain_id FROM layers")} == want_chains
    for image_id in set(tagged) | set(dangling):
        rows = query(bilge_root, f"SELECT position, chain_id FROM image_layers WHERE image_id = '{image_id}'")
        assert [c for _, c in sorted(rows)] == chain_ids(docker_inspect[image_id]["RootFS"]["Layers"])


def test_dangling_images_loaded_untagged(shared, dangling, docker_inspect):
    bilge = shared[0]
    for img in inspect(bilge, *dangling):
        assert img["RepoTags"] == []
        assert img["RootFS"] == docker_inspect[img["Id"]]["RootFS"]
        assert img["Config"] == docker_inspect[img["Id"]]["Config"]
    listed = bilge("images", "--filter", "dangling=true", "-q", "--no-trunc").stdout.split()
    assert sorted(listed) == sorted(dangling)


# --- sizes ----------------------------------------------------------------------------------


def test_sizes_equal_system_df_byte_for_byte(shared, system_df):
    bilge = shared[0]
    want = {img["Id"]: img["Size"] for img in system_df["Images"]}
    got = {img["Id"]: img["Size"] for img in inspect(bilge, *want)}
    assert got == want
    listed = {row["ID"]: row["Size"] for row in json.loads(bilge("images", "--format", "json").stdout)}
    assert listed == want


def test_layers_size_equals_docker_layers_size(shared, system_df):
    bilge_root = shared[1]
    (total,) = query(bilge_root, "SELECT SUM(size) FROM layers")[0]
    assert total == system_df["LayersSize"] == 3854111


# --- sources and compressions ---------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_snapshot(shared) -> dict:
    """The store a plain `load -i images.tar.gz` makes, for comparing other ways of loading."""
    _, root, proc = shared
    return {"stdout": proc.stdout, **snapshot(root)}


@pytest.fixture(scope="module")
def plain_archive(tmp_path_factory, archive) -> Path:
    path = tmp_path_factory.mktemp("plain") / "images.tar"
    path.write_bytes(gzip.decompress(archive.read_bytes()))
    return path


@pytest.fixture(scope="module")
def zstd_archive(tmp_path_factory, plain_archive) -> Path:
    import zstandard

    path = tmp_path_factory.mktemp("zstd") / "images.tar.zst"
    path.write_bytes(zstandard.ZstdCompressor(level=3).compress(plain_archive.read_bytes()))
    return path


@pytest.mark.parametrize("how", ["gzip-stdin", "plain-file", "zstd-stdin"])
def test_every_source_loads_the_same(how, bilge, bilge_root, archive, plain_archive, zstd_archive, reference_snapshot):
    kind, via = how.split("-")
    path = {"gzip": archive, "plain": plain_archive, "zstd": zstd_archive}[kind]
    if kind == "zstd":
        assert path.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"
    if via == "file":
        proc = bilge("load", "-i", path)
    else:
        proc = bilge("load", input=path.read_bytes())
    assert proc.stdout == reference_snapshot["stdout"]
    assert snapshot(bilge_root) == {k: v for k, v in reference_snapshot.items() if k != "stdout"}


def test_loading_twice_is_idempotent(loaded, bilge, bilge_root, archive):
    before = snapshot(bilge_root)
    dirs_before = sorted(p.name for p in (bilge_root / "layers").iterdir())
    again = bilge("load", "-i", archive)
    assert again.stdout == loaded.stdout
    assert snapshot(bilge_root) == before
    assert sorted(p.name for p in (bilge_root / "layers").iterdir()) == dirs_before
    assert list((bilge_root / "ingest").iterdir()) == []
    bilge("check")


# --- history and images as Docker prints them -----------------------------------------------


@pytest.fixture(scope="module")
def zoo_history(fixtures_dir: Path, docker_inspect: dict[str, dict]) -> list[dict]:
    """The block of history.jsonl for zoo:latest: from its ID down its Parent chain."""
    lines = [json.loads(line) for line in (fixtures_dir / "docker" / "history.jsonl").read_text().splitlines()]
    zoo = next(i for i, img in docker_inspect.items() if "zoo:latest" in img["RepoTags"])
    chain = []
    while zoo:
        chain.append(zoo)
        zoo = docker_inspect[zoo]["Parent"]
    start = next(n for n, line in enumerate(lines) if line["ID"] == chain[0])
    block = lines[start : start + len(chain)]
    assert [line["ID"] for line in block] == chain
    return block


def test_history_json_matches_docker(shared, zoo_history):
    bilge = shared[0]
    got = json.loads(bilge("history", "--format", "json", "zoo").stdout)
    assert [h["CreatedBy"] for h in got] == [h["CreatedBy"] for h in zoo_history]
    assert [docker_human(h["Size"]) for h in got] == [h["Size"] for h in zoo_history]
    assert got[0]["ID"] == zoo_history[0]["ID"]


def test_history_table_matches_docker(shared, zoo_history):
    bilge = shared[0]
    rows = table(bilge("history", "--no-trunc", "zoo").stdout)
    assert [r["SIZE"] for r in rows] == [h["Size"] for h in zoo_history]
    # (a table cell cannot show trailing blanks: one CreatedBy ends in a space)
    assert [r["CREATED BY"] for r in rows] == [h["CreatedBy"].strip() for h in zoo_history]
    assert rows[0]["IMAGE"] == zoo_history[0]["ID"]
    # the layers below the top were intermediates that docker save leaves out, as Docker shows
    assert {r["IMAGE"] for r in rows[1:]} == {"<missing>"}


def test_images_shows_what_docker_shows(shared, fixtures_dir, tagged, dangling):
    bilge = shared[0]
    loaded_ids = set(tagged) | set(dangling)
    docker_rows = set()
    for line in (fixtures_dir / "docker" / "images-a.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["ID"] in loaded_ids:
            docker_rows.add((row["Repository"], row["Tag"], row["ID"], row["Size"]))
    for args in ((), ("-a",)):
        got = table(bilge("images", "--no-trunc", *args).stdout)
        assert len(got) == len(docker_rows), args
        assert {(r["REPOSITORY"], r["TAG"], r["IMAGE ID"], r["SIZE"]) for r in got} == docker_rows, args


def test_load_on_a_terminal_shows_a_progress_bar(bilge_root, fixtures_dir) -> None:
    """stderr is a terminal: a rich bar of the archive's bytes; the result is the same load."""
    code, out, shown = run_on_terminal(bilge_root, "load", "-i", str(fixtures_dir / "docker/images.tar.gz"))
    assert code == 0
    assert b"Loading" in shown and b"Loaded" in shown
    assert out.decode().splitlines()[0] == "Loaded image: busybox:latest"
