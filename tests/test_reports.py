"""The space reports on the fixture images Docker made, plus the fixture's two containers.

What-if: every scenario's figures equal its command's `--dry-run`, and the real prune then
frees exactly that (each prune run in turn on one store, the what-if taken afresh before it).
"""

from __future__ import annotations

import json
import shlex
import sqlite3
import time
from pathlib import Path

from test_gc import layers_bytes
from test_gc_containers import _recreate_fixture_containers

from bilge.reports.whatif import what_if
from bilge.store.core import Store

DAY = 86400


def _age(root: Path, days: dict[str, int]) -> None:
    """Make the named images last used `days` ago (the fixture was loaded just now)."""
    db = sqlite3.connect(root / "bilge.db")
    with db:
        for ref, ago in days.items():
            repo, _, tag = ref.partition(":")
            db.execute(
                "UPDATE images SET added = ?, last_used = NULL WHERE id IN"
                " (SELECT image_id FROM tags WHERE repository LIKE ? AND tag = ?)",
                [time.time() - ago * DAY, f"%{repo}", tag],
            )
    db.close()


def _scenarios(root: Path) -> dict:
    store = Store(root)
    try:
        return {s.command: s for s in what_if(store)}
    finally:
        store.close()


def test_what_if_equals_dry_runs_and_real_prunes(ctr, bilge_root: Path, fixtures_dir: Path) -> None:
    _recreate_fixture_containers(ctr, fixtures_dir)
    _age(bilge_root, {"zoo:latest": 10, "app:v1": 40, "scratchpad:latest": 40})
    scenarios = _scenarios(bilge_root)
    assert len(scenarios) == 9
    assert scenarios["bilge container prune"].bytes == 40000  # head -c 40000 > /scratch.bin
    for command, s in scenarios.items():
        dry = json.loads(ctr(*shlex.split(command)[1:], "--dry-run", "--format", "json").stdout)
        assert (s.bytes, s.disk, s.images, s.containers) == (
            dry["Bytes"],
            dry["Disk"],
            len(dry["Images"]),
            len(dry["Containers"]),
        ), command
    assert 0 < scenarios["bilge image prune -a --unused-for 30d"].bytes < scenarios["bilge image prune -a"].bytes
    order = [
        "bilge image prune",
        "bilge image prune -a --unused-for 30d",
        "bilge image prune -a --unused-for 7d",
        "bilge container prune",
        "bilge image prune --keep 3",
        "bilge builder prune",
        "bilge image prune -a",
        "bilge system prune -a",
    ]
    freed_something = 0
    for command in order:
        s = _scenarios(bilge_root)[command]
        before = layers_bytes(bilge_root)
        done = json.loads(ctr(*shlex.split(command)[1:], "-f", "--format", "json").stdout)
        assert (done["SpaceReclaimed"], done["DiskReclaimed"]) == (s.bytes, s.disk), command
        writable = 40000 if command == "bilge container prune" else 0  # the rest is layers, walked here
        assert before - layers_bytes(bilge_root) == s.bytes - writable, command
        freed_something += s.bytes > 0
    assert freed_something >= 5


def test_top_ranks_by_system_df_exact_bytes(ctr, fixtures_dir: Path) -> None:
    """top's figures are `system df -v`'s to the byte, and Docker's own (SIZE, SHARED SIZE,
    CONTAINERS from the Engine API fixture), ranked by unique bytes."""
    _recreate_fixture_containers(ctr, fixtures_dir)
    df = {i["Id"]: i for i in json.loads(ctr("system", "df", "-v", "--format", "json").stdout)["Images"]}
    docker = {i["Id"]: i for i in json.loads((fixtures_dir / "docker/api-system-df.json").read_text())["Images"]}
    for by in ("unique", "size", "fair", "disk"):
        top = json.loads(ctr("top", "--by", by, "--format", "json").stdout)
        assert {t["Id"] for t in top} == set(df)
        for t in top:
            d = df[t["Id"]]
            assert (t["Size"], t["SharedSize"], t["UniqueSize"], t["FairShare"], t["Disk"], t["Containers"]) == (
                d["Size"],
                d["SharedSize"],
                d["Size"] - d["SharedSize"],
                d["FairShare"],
                d["Disk"],
                d["Containers"],
            )
        key = {"unique": "UniqueSize", "size": "Size", "fair": "FairShare", "disk": "Disk"}[by]
        assert [t[key] for t in top] == sorted((t[key] for t in top), reverse=True)
    for image in docker.values():
        assert (df[image["Id"]]["Size"], df[image["Id"]]["SharedSize"]) == (image["Size"], image["SharedSize"])
    first = json.loads(ctr("top", "-n", "1", "--format", "json").stdout)
    assert [t["RepoTags"] for t in first] == [["zoo:latest"]]  # its 1 MiB layer is its own
    assert sum(t["Containers"] for t in json.loads(ctr("top", "--format", "json").stdout)) == 2
    layers = json.loads(ctr("top", "--layers", "--format", "json").stdout)
    busybox = layers[0]  # the busybox layer: the largest, under every image but multistage's
    assert len(busybox["Images"]) == 7 and busybox["Containers"] == 2
    plain = ctr("top", "-n", "2").stdout.splitlines()
    assert plain[0].split()[:3] == ["IMAGE", "IMAGE", "ID"] and plain[1].startswith("zoo:latest")


def test_explain_frees_what_rmi_frees(bilge, bilge_root: Path, fixtures_dir: Path) -> None:
    bilge("load", "-q", "-i", fixtures_dir / "docker/images.tar.gz")
    for name in ("zoo:latest", "app:latest", "busybox:latest"):
        e = json.loads(bilge("explain", name, "--format", "json").stdout)
        before = layers_bytes(bilge_root)
        bilge("rmi", *e["names"])  # removing the image is untagging every name it has
        assert before - layers_bytes(bilge_root) == e["frees"][0], name
    assert e["frees"][0] == 0 and e["rest"][0] == 1985472  # busybox's layers: every other image stands on them
    text = bilge("explain", "app:v1").stdout
    assert "Removing app:v1 frees 100kB (100000 bytes" in text


def test_waste_finds_what_zoo_writes_then_deletes(bilge, fixtures_dir: Path) -> None:
    """The done-when: the 1 MiB written then deleted (/data/big) and the overwritten /data/keep/a
    (a hardlink to /data/hard, so its old bytes are still seen there: no bytes wasted)."""
    bilge("load", "-q", "-i", fixtures_dir / "docker/images.tar.gz")
    found = json.loads(bilge("waste", "zoo", "--format", "json").stdout)
    by_path = {o["path"]: o for o in found["offenders"]}
    assert by_path["/data/big"]["size"] == 1 << 20 and by_path["/data/big"]["how"] == "deleted"
    assert by_path["/data/big"]["by"] == by_path["/data/big"]["layer"] + 1
    assert by_path["/data/keep/a"]["how"] == "overwritten" and by_path["/data/keep/a"]["size"] == 0
    assert by_path["/data/gone"]["how"] == "deleted"  # rm
    assert by_path["/data/opq/b"]["how"] == "deleted"  # rm -rf of the directory, made again: opaque
    assert found["offenders"][0]["path"] == "/data/big"
    assert found["wasted"] == sum(o["size"] for o in found["offenders"]) == (1 << 20) + 2 + 2
    assert found["efficiency"] == (found["written"] - found["wasted"]) / found["written"]
    text = bilge("waste", "zoo", "-n", "1").stdout.splitlines()
    assert text[0].startswith("zoo: efficiency 65.4%; 1.049MB (1048580 bytes)")
    assert "/data/big" in text[3] and len(text) == 4
    clean = json.loads(bilge("waste", "busybox", "--format", "json").stdout)
    assert (clean["wasted"], clean["offenders"], clean["efficiency"]) == (0, [], 1.0)


def test_waste_follows_the_oci_whiteout_rules(bilge, tmp_path: Path) -> None:
    from bilge.fabricate import Image, docker_archive, layer_tar

    layers = [
        layer_tar("w0", {"d/x": 100, "d/y": 50, "f": 10, "keep": 7}),
        layer_tar("w1", {"d/.wh..wh..opq": 0, "d/z": 5, "f": 20}),
        layer_tar("w2", {".wh.d": 0}),
    ]
    archive = tmp_path / "w.tar"
    archive.write_bytes(docker_archive([Image(["w:1"], layers, "2026-01-01T00:00:00Z")]))
    bilge("load", "-q", "-i", archive)
    found = json.loads(bilge("waste", "w:1", "--format", "json").stdout)
    assert [(o["path"], o["size"], o["layer"], o["by"], o["how"]) for o in found["offenders"]] == [
        ("/d/x", 100, 0, 1, "deleted"),
        ("/d/y", 50, 0, 1, "deleted"),
        ("/f", 10, 0, 1, "overwritten"),
        ("/d/z", 5, 1, 2, "deleted"),
    ]
    assert (found["written"], found["wasted"]) == (192, 165)
