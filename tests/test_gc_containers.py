"""With containers: system df equals Docker's fixture byte for byte (containers included),
prunes spare what containers use, and prunes racing pulls, loads and commits break none of them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_gc import layers_bytes, tags

from bilge.store.tables import human_size

FIXTURE_CONTAINERS = "docker/containers-inspect.json"


def _recreate_fixture_containers(bilge, fixtures_dir: Path) -> None:
    """The two containers the fixture's daemon held, made the same way."""
    spec = {c["Name"].lstrip("/"): c["Config"] for c in json.loads((fixtures_dir / FIXTURE_CONTAINERS).read_text())}
    stopped = spec["stopped-with-data"]
    bilge("run", "--name", "stopped-with-data", stopped["Image"], *stopped["Cmd"])
    created = spec["created-only"]
    bilge("create", "--name", "created-only", created["Image"])


def test_system_df_equals_docker_byte_for_byte(ctr, fixtures_dir: Path) -> None:
    _recreate_fixture_containers(ctr, fixtures_dir)
    want = json.loads((fixtures_dir / "docker/api-system-df.json").read_text())
    got = json.loads(ctr("system", "df", "-v", "--format", "json").stdout)
    assert got["LayersSize"] == want["LayersSize"]
    ours = {i["Id"]: i for i in got["Images"]}
    for image in want["Images"]:
        mine = ours[image["Id"]]
        assert (mine["Size"], mine["SharedSize"], mine["Containers"]) == (
            image["Size"],
            image["SharedSize"],
            image["Containers"],
        ), image["RepoTags"]
    by_name = {c["Names"][0]: c for c in got["Containers"]}
    for container in want["Containers"]:
        mine = by_name[container["Names"][0]]
        assert (mine["SizeRw"], mine["SizeRootFs"]) == (
            container.get("SizeRw", 0),
            container["SizeRootFs"],
        )  # API omits a 0
        assert (mine["Image"], mine["Command"], mine["State"]) == (
            container["Image"],
            container["Command"],
            container["State"],
        )
    rows = [json.loads(line) for line in (fixtures_dir / "docker/system-df.jsonl").read_text().splitlines()]
    table = ctr("system", "df").stdout.splitlines()[1:]
    for row, line in zip(rows, table):
        assert (
            line.split()[:-1]  # the last column, PRUNE -A FREES, is bilge's
            == f"{row['Type']} {row['TotalCount']} {row['Active']} {row['Size']} {row['Reclaimable']}".split()
        )


def test_image_prune_all_spares_what_containers_use(ctr, bilge_root: Path, fixtures_dir: Path) -> None:
    _recreate_fixture_containers(ctr, fixtures_dir)
    df = json.loads(ctr("system", "df", "-v", "--format", "json").stdout)
    used = {i["Id"] for i in df["Images"] if i["Containers"]}
    assert len(used) == 2
    before = layers_bytes(bilge_root)
    dry = json.loads(ctr("image", "prune", "-a", "--dry-run", "--format", "json").stdout)
    # system df keeps Docker's RECLAIMABLE (the used images' shared layers count) and says
    # beside it what image prune -a frees
    summary = json.loads(ctr("system", "df", "--format", "json").stdout)[0]
    assert summary["PruneFrees"] == dry["Bytes"] < summary["Reclaimable"] == 3754111
    table = ctr("system", "df").stdout.splitlines()
    assert table[0].split()[-3:] == ["PRUNE", "-A", "FREES"]
    assert table[1].split()[-3:] == ["3.754MB", "(97%)", human_size(dry["Bytes"], 4)]
    done = json.loads(ctr("image", "prune", "-a", "-f", "--format", "json").stdout)
    assert set(done["Images"]) == {i["Id"] for i in df["Images"]} - used == set(dry["Images"])
    assert done["SpaceReclaimed"] == dry["Bytes"] == before - layers_bytes(bilge_root)
    left = json.loads(ctr("system", "df", "-v", "--format", "json").stdout)
    assert {i["Id"] for i in left["Images"]} == used
    assert ctr("run", "--rm", "busybox", "true").returncode == 0  # the image containers use is whole


def test_container_prune_then_system_prune(ctr, bilge_root: Path, fixtures_dir: Path) -> None:
    _recreate_fixture_containers(ctr, fixtures_dir)
    out = ctr("container", "prune", "-f").stdout
    assert out.strip().endswith("Total reclaimed space: 40kB")
    assert len(out.split("Deleted Containers:")[1].split()) >= 2
    assert ctr("ps", "-aq").stdout.strip() == ""
    assert list((bilge_root / "containers").iterdir()) == []
    done = json.loads(ctr("system", "prune", "-a", "-f", "--format", "json").stdout)
    assert done["Containers"] == [] and len(done["Images"]) == 8
    assert tags(ctr) == set()
    assert ctr("check").returncode == 0


def test_running_containers_and_their_images_survive(ctr) -> None:
    cid = ctr("run", "-d", "busybox", "sleep", "300").stdout.strip()
    ctr("system", "prune", "-a", "-f")
    assert ctr("ps", "-q", "--no-trunc").stdout.split() == [cid]
    assert "busybox:latest" in tags(ctr)
    ctr("rm", "-f", cid)


def test_prune_races_pulls_loads_and_commits(
    ctr, bilge_root: Path, registry, tmp_path: Path, fixtures_dir: Path
) -> None:
    """Prune in a loop while other processes pull, load and commit: every one of them succeeds."""
    bilge = f"{sys.executable} -m bilge --root {bilge_root}"
    archive = fixtures_dir / "docker/images.tar.gz"
    pull = f"{bilge} pull -q {registry.ref('fixtures/zoo:latest')}"
    ctr("run", "--name", "base", "busybox", "true")
    commit = f"{bilge} commit base snap:$i"
    workers = [
        subprocess.Popen(
            ["bash", "-c", f"for i in 1 2 3 4; do {cmd} >/dev/null || exit 1; done"], stderr=subprocess.PIPE, text=True
        )
        for cmd in (pull, f"{bilge} load -q -i {archive}", commit)
    ]
    prunes = 0
    while any(w.poll() is None for w in workers):
        ctr("image", "prune", "-a", "-f")
        prunes += 1
    errors = [w.stderr.read() for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], errors
    assert prunes > 1
    assert ctr("check").returncode == 0
    ctr("pull", "-q", registry.ref("fixtures/zoo:latest"))
    ctr("save", "-o", tmp_path / "all.tar", *sorted(tags(ctr)))  # whatever is left is whole


def test_prune_all_keeps_the_parent_a_kept_child_is_built_on(ctr) -> None:
    """busybox is unused, but child:1 (committed from a busybox container, used by a container)
    has it as its parent: Docker refuses to delete an image with children, and so does mark."""
    ctr("create", "--name", "c1", "busybox")
    ctr("commit", "c1", "child:1")
    ctr("create", "--name", "c2", "child:1")
    ctr("rm", "c1")
    ctr("image", "prune", "-a", "-f")
    assert {"busybox:latest", "child:1"} <= tags(ctr)
    parent = json.loads(ctr("inspect", "child:1").stdout)[0]["Parent"]
    assert parent == json.loads(ctr("inspect", "busybox").stdout)[0]["Id"]
