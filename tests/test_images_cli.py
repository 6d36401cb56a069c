"""`tag`, `images`, `rmi`, `inspect`, `history` and `demo` as Docker's hands expect them.

Expected values come from the Docker fixtures (inspect.json: IDs, tags, labels, Created), not
from bilge. Read-only listing tests share one loaded store; tests that change it get their own.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

DANGLING = {
    "sha256:f0989b0bdf4866d4bb2b6a0f3f097e1a0e3f02842d3813cd0ddcbf7bcc0ab4fc",
    "sha256:6a804b3815414fe3859ce4906eb1cafe9bc26b8068f91c6c7c14816f09d19958",
}
BUSYBOX = "sha256:106bc139e69eba88ef6be01398e1eba4ee4819aee52c999902f6a1559ba95dd9"
ZOO = "sha256:52ebd90ab83e84197e5867669be2d1fb40037c38c3e58105bfeb040045a93aac"
MULTISTAGE = "sha256:ead86c941b00ba25523c0b55ed27c363cfb0204dab03572309fe79d2e5aa1ba4"
APP_V2 = "sha256:f1f05bbf25efd8dfbed93aabca0ad63a011a6a7a618739576f9f666c4161d681"
# extra names the shared store gets, to exercise reference= with slashes
EXTRA_TAGS = {"example.com/team/tool:1": BUSYBOX, "localhost:5000/a/b:2": ZOO, "team/zoo:x": ZOO}


# --- oracles --------------------------------------------------------------------------------


def _created(text: str) -> tuple[datetime, int]:
    """RFC 3339 with nanoseconds, exactly comparable."""
    m = re.fullmatch(r"(.*?T\d\d:\d\d:\d\d)(?:\.(\d+))?Z", text)
    assert m, text
    return datetime.fromisoformat(m[1]).replace(tzinfo=UTC), int((m[2] or "0").ljust(9, "0"))


@pytest.fixture(scope="module")
def oracle(fixtures_dir: Path) -> dict[str, dict]:
    """The loaded images (tagged and the two dangling) from inspect.json, by ID."""
    out = {}
    for img in json.loads((fixtures_dir / "docker" / "inspect.json").read_text()):
        if img["RepoTags"] or img["Id"] in DANGLING:
            out[img["Id"]] = img
    assert len(out) == 8
    return out


def rows_for(oracle: dict[str, dict], ids, extra: dict[str, str] | None = None) -> set[tuple[str, str, str]]:
    """(repository, tag, id) rows that `docker images` prints for these image IDs."""
    out = set()
    tags = [(t, i) for i, img in oracle.items() for t in img["RepoTags"]] + list((extra or {}).items())
    for image_id in ids:
        mine = [t for t, i in tags if i == image_id]
        if not mine:
            out.add(("<none>", "<none>", image_id))
        for t in mine:
            repo, tag = t.rsplit(":", 1)
            out.add((repo, tag, image_id))
    return out


# --- running bilge --------------------------------------------------------------------------


def _runner(root: Path):
    def run(*args, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "bilge", *map(str, args)],
            check=False,
            capture_output=True,
            text=True,
            env={**os.environ, "BILGE_ROOT": str(root)},
        )
        if check:
            assert proc.returncode == 0, f"bilge {' '.join(map(str, args))}: {proc.stderr}"
        return proc

    return run


@pytest.fixture(scope="module")
def shared(tmp_path_factory, fixtures_dir):
    """One store with the fixture loaded and EXTRA_TAGS added, for tests that only read."""
    run = _runner(tmp_path_factory.mktemp("images") / "root")
    run("load", "-i", fixtures_dir / "docker" / "images.tar.gz")
    for name, image_id in EXTRA_TAGS.items():
        run("tag", image_id, name)
    return run


@pytest.fixture
def loaded(bilge, fixtures_dir):
    bilge("load", "-i", fixtures_dir / "docker" / "images.tar.gz")
    return bilge


def listed(run, *args) -> set[tuple[str, str, str]]:
    rows = json.loads(run("images", "--format", "json", *args).stdout)
    return {(r["Repository"], r["Tag"], r["ID"]) for r in rows}


def one_error_line(proc) -> str:
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    return lines[0]


def ids_in_db(root: Path) -> set[str]:
    con = sqlite3.connect(root / "bilge.db")
    try:
        return {r[0] for r in con.execute("SELECT id FROM images")}
    finally:
        con.close()


# --- images: columns and formats -------------------------------------------------------------


def test_images_lists_every_loaded_name(shared, oracle):
    assert listed(shared) == rows_for(oracle, oracle, EXTRA_TAGS)
    assert listed(shared, "-a") == rows_for(oracle, oracle, EXTRA_TAGS)


def test_images_newest_first(shared, oracle):
    rows = json.loads(shared("images", "--format", "json").stdout)
    created = [_created(oracle[r["ID"]]["Created"]) for r in rows]
    assert created == sorted(created, reverse=True)


def test_quiet_prints_each_id_once(shared, oracle):
    short = shared("images", "-q").stdout.split()
    assert sorted(short) == sorted(i.removeprefix("sha256:")[:12] for i in oracle)
    full = shared("images", "-q", "--no-trunc").stdout.split()
    assert sorted(full) == sorted(oracle)


def test_table_columns_and_truncation(shared, oracle):
    lines = shared("images").stdout.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert len(lines) == 1 + len(rows_for(oracle, oracle, EXTRA_TAGS))
    ids = {line.split()[2] for line in lines[1:]}
    assert ids == {i.removeprefix("sha256:")[:12] for i in oracle}
    full = shared("images", "--no-trunc").stdout.splitlines()
    assert {line.split()[2] for line in full[1:]} == set(oracle)


def test_digests_column(shared, oracle):
    lines = shared("images", "--digests").stdout.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "DIGEST", "IMAGE", "ID", "CREATED", "SIZE"]
    # loaded from an archive, nothing came from a registry: no digests
    assert {line.split()[2] for line in lines[1:]} == {"<none>"}


def test_formats_agree(shared, oracle):
    data = json.loads(shared("images", "--format", "json").stdout)
    assert {(r["Repository"], r["Tag"], r["ID"]) for r in data} == rows_for(oracle, oracle, EXTRA_TAGS)
    assert {r["ID"]: r["Size"] for r in data} == {i: img["Size"] for i, img in oracle.items()}

    records = list(csv.DictReader(io.StringIO(shared("images", "--format", "csv").stdout)))
    assert len(records) == len(data)
    assert {(r["Repository"], r["Tag"]) for r in records} == {(r["Repository"], r["Tag"]) for r in data}

    md = shared("images", "--format", "md").stdout.splitlines()
    assert md[0].startswith("|") and "REPOSITORY" in md[0]
    assert re.fullmatch(r"\|[-:| ]+\|", md[1]), md[1]
    assert len(md) == 2 + len(data)
    cells = {tuple(c.strip() for c in line.strip("|").split("|"))[:2] for line in md[2:]}
    assert cells == {(r["Repository"], r["Tag"]) for r in data}

    table = shared("images", "--format", "table").stdout.splitlines()
    assert table[0].split()[:2] == ["REPOSITORY", "TAG"] and len(table) == 1 + len(data)


def test_unknown_format_is_one_line(shared):
    assert "bogus" in one_error_line(shared("images", "--format", "bogus", check=False))


# --- images: filters -------------------------------------------------------------------------


def test_filter_dangling(shared, oracle):
    assert listed(shared, "--filter", "dangling=true") == rows_for(oracle, DANGLING)
    tagged = set(oracle) - DANGLING
    assert listed(shared, "--filter", "dangling=false") == rows_for(oracle, tagged, EXTRA_TAGS)


@pytest.mark.parametrize("label", ["version", "version=1", "org.example.team=other"])
def test_filter_label(label, shared, oracle):
    key, _, value = label.partition("=")
    want = {
        i
        for i, img in oracle.items()
        if key in (img["Config"]["Labels"] or {}) and (not value or img["Config"]["Labels"][key] == value)
    }
    assert listed(shared, "--filter", f"label={label}") == rows_for(oracle, want, EXTRA_TAGS)


@pytest.mark.parametrize(
    "pattern, names",
    [
        ("app", {"app:v1", "app:v2", "app:latest"}),
        ("app:v*", {"app:v1", "app:v2"}),
        (
            "*",
            {
                "busybox:latest",
                "zoo:latest",
                "app:v1",
                "app:v2",
                "app:latest",
                "multistage:latest",
                "scratchpad:latest",
            },
        ),
        ("*/*", {"team/zoo:x"}),
        ("t?am/z*", {"team/zoo:x"}),
        ("example.com/*/*", {"example.com/team/tool:1"}),
        ("example.com/*", set()),
        ("*/tool", set()),
        ("*/*/*", {"example.com/team/tool:1", "localhost:5000/a/b:2"}),
    ],
)
def test_filter_reference_is_path_match(pattern, names, shared, oracle):
    tags = {t: i for i, img in oracle.items() for t in img["RepoTags"]} | EXTRA_TAGS
    want = {(n.rsplit(":", 1)[0], n.rsplit(":", 1)[1], tags[n]) for n in names}
    assert listed(shared, "--filter", f"reference={pattern}") == want


def test_repository_argument_filters_like_reference(shared):
    assert {(r, t) for r, t, _ in listed(shared, "app")} == {("app", "v1"), ("app", "v2"), ("app", "latest")}
    assert {(r, t) for r, t, _ in listed(shared, "*/*/*")} == {
        ("example.com/team/tool", "1"),
        ("localhost:5000/a/b", "2"),
    }


def test_filter_reference_shows_only_matching_names(shared):
    # zoo carries three names; reference=zoo shows only the one that matches
    assert listed(shared, "--filter", "reference=zoo") == {("zoo", "latest", ZOO)}


@pytest.mark.parametrize("key, ref", [("before", "app:v1"), ("since", "multistage")])
def test_filter_before_since(key, ref, shared, oracle):
    pivot_id = next(
        i
        for i, img in oracle.items()
        if any(t.split(":")[0] == ref.split(":")[0] and (":" not in ref or t == ref) for t in img["RepoTags"])
    )
    pivot = _created(oracle[pivot_id]["Created"])
    if key == "before":
        want = {i for i, img in oracle.items() if _created(img["Created"]) < pivot}
    else:
        want = {i for i, img in oracle.items() if _created(img["Created"]) > pivot}
    assert listed(shared, "--filter", f"{key}={ref}") == rows_for(oracle, want, EXTRA_TAGS)


def test_filters_combine(shared, oracle):
    got = listed(shared, "--filter", "label=version", "--filter", "dangling=false", "--filter", "reference=app")
    assert got == {
        ("app", "v1", next(i for i, m in oracle.items() if "app:v1" in m["RepoTags"])),
        ("app", "v2", APP_V2),
        ("app", "latest", APP_V2),
    }


def test_bad_filter_is_one_line(shared):
    one_error_line(shared("images", "--filter", "colour=blue", check=False))
    one_error_line(shared("images", "--filter", "before=no-such-image", check=False))


# --- tag ------------------------------------------------------------------------------------


def test_tag_adds_a_name(loaded, oracle):
    loaded("tag", "busybox", "mine:1")
    loaded("tag", "busybox:latest", "registry.example:5000/x/mine")
    img = json.loads(loaded("inspect", "mine:1").stdout)[0]
    assert img["Id"] == BUSYBOX
    assert sorted(img["RepoTags"]) == ["busybox:latest", "mine:1", "registry.example:5000/x/mine:latest"]
    assert ("mine", "1", BUSYBOX) in listed(loaded)
    one_error_line(loaded("tag", "no-such-image", "x:1", check=False))
    one_error_line(loaded("tag", "busybox", "Bad Name!", check=False))
    one_error_line(loaded("tag", "busybox", "x@sha256:" + "0" * 64, check=False))


def test_tag_moves_an_existing_name(loaded, bilge_root):
    loaded("tag", "zoo", "app:v1")
    assert json.loads(loaded("inspect", "app:v1").stdout)[0]["Id"] == ZOO
    # the image that lost its only name stays, dangling, as in Docker
    assert "sha256:a4f01af748a7590bca70b040d03850e6f3502e1a65ab90a4c0837bb1ec2ce4a1" in ids_in_db(bilge_root)
    dangling = set(loaded("images", "-q", "--no-trunc", "--filter", "dangling=true").stdout.split())
    assert "sha256:a4f01af748a7590bca70b040d03850e6f3502e1a65ab90a4c0837bb1ec2ce4a1" in dangling


# --- rmi ------------------------------------------------------------------------------------


def test_rmi_untags_while_another_tag_remains(loaded, bilge_root):
    proc = loaded("rmi", "app:v2")
    assert proc.stdout.splitlines() == ["Untagged: app:v2"]
    assert APP_V2 in ids_in_db(bilge_root)
    assert json.loads(loaded("inspect", "app:latest").stdout)[0]["RepoTags"] == ["app:latest"]
    one_error_line(loaded("inspect", "app:v2", check=False))


def test_rmi_by_id_with_two_repositories_needs_force(loaded, bilge_root):
    loaded("tag", "zoo", "team/zoo:x")
    before = listed(loaded)
    line = one_error_line(loaded("rmi", ZOO.removeprefix("sha256:")[:12], check=False))
    assert "must be forced" in line or "multiple repositories" in line, line
    assert listed(loaded) == before
    proc = loaded("rmi", "-f", ZOO.removeprefix("sha256:")[:12])
    lines = proc.stdout.splitlines()
    assert sorted(lines[:2]) == ["Untagged: team/zoo:x", "Untagged: zoo:latest"]
    assert lines[2] == f"Deleted: {ZOO}"
    assert ZOO not in ids_in_db(bilge_root)
    loaded("check")


def test_rmi_of_the_last_tag_deletes_image_and_layers(loaded, bilge_root, oracle):
    (layer,) = oracle[MULTISTAGE]["RootFS"]["Layers"]  # one layer: its chain ID is its diff_id
    proc = loaded("rmi", "multistage")
    assert proc.stdout.splitlines() == ["Untagged: multistage:latest", f"Deleted: {MULTISTAGE}", f"Deleted: {layer}"]
    assert MULTISTAGE not in ids_in_db(bilge_root)
    con = sqlite3.connect(bilge_root / "bilge.db")
    try:
        assert con.execute("SELECT COUNT(*) FROM layers WHERE chain_id = ?", (layer,)).fetchone()[0] == 0
    finally:
        con.close()
    loaded("check")


def test_rmi_keeps_shared_layers(loaded, bilge_root, oracle):
    con = sqlite3.connect(bilge_root / "bilge.db")
    try:
        layers_before = {r[0] for r in con.execute("SELECT chain_id FROM layers")}
    finally:
        con.close()
    proc = loaded("rmi", "app:v1")
    deleted = [line.removeprefix("Deleted: ") for line in proc.stdout.splitlines() if line.startswith("Deleted: ")]
    assert deleted[0] == "sha256:a4f01af748a7590bca70b040d03850e6f3502e1a65ab90a4c0837bb1ec2ce4a1"
    # only app:v1's own top layer goes; the three below are app:v2's too
    assert len(deleted) == 2
    con = sqlite3.connect(bilge_root / "bilge.db")
    try:
        layers_after = {r[0] for r in con.execute("SELECT chain_id FROM layers")}
    finally:
        con.close()
    assert layers_before - layers_after == {deleted[1]}
    json.loads(loaded("inspect", "app:v2").stdout)
    loaded("save", "app:v2", "zoo", "busybox", "-o", bilge_root.parent / "still-saves.tar")


def test_rmi_of_a_parent_only_untags(loaded, bilge_root):
    """busybox is the Parent of a loaded image: rmi untags it and keeps it as an intermediate."""
    proc = loaded("rmi", "busybox")
    assert proc.stdout.splitlines() == ["Untagged: busybox:latest"]
    assert BUSYBOX in ids_in_db(bilge_root)
    assert BUSYBOX not in {r[2] for r in listed(loaded)}
    assert ("<none>", "<none>", BUSYBOX) in listed(loaded, "-a")
    assert BUSYBOX not in loaded("images", "-q", "--no-trunc", "--filter", "dangling=true").stdout.split()


def _chains(diff_ids: list[str]) -> list[str]:
    import hashlib

    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


def test_rmi_deletes_untagged_parents(loaded, bilge_root, oracle):
    """The builder stage 6a804 has busybox as Parent: once busybox is untagged, removing the child
    removes the parent too, and exactly the layers no other image uses."""
    child = "sha256:6a804b3815414fe3859ce4906eb1cafe9bc26b8068f91c6c7c14816f09d19958"
    loaded("rmi", "busybox")
    proc = loaded("rmi", child[7:19])
    remaining = set(oracle) - {child, BUSYBOX}
    kept = {c for i in remaining for c in _chains(oracle[i]["RootFS"]["Layers"])}
    gone = (set(_chains(oracle[child]["RootFS"]["Layers"])) | set(_chains(oracle[BUSYBOX]["RootFS"]["Layers"]))) - kept
    lines = proc.stdout.splitlines()
    assert set(lines) == {f"Deleted: {child}", f"Deleted: {BUSYBOX}"} | {f"Deleted: {c}" for c in gone}
    assert len(lines) == 2 + len(gone)
    assert lines.index(f"Deleted: {child}") < lines.index(f"Deleted: {BUSYBOX}")
    assert ids_in_db(bilge_root) == remaining
    loaded("check")


def test_rmi_of_a_missing_image(loaded, bilge_root):
    before = listed(loaded)
    line = one_error_line(loaded("rmi", "no-such-image", check=False))
    assert "no-such-image" in line
    assert listed(loaded) == before
    # with other names, as docker rmi: the others are still removed, the exit code says one failed
    proc = loaded("rmi", "no-such-image", "multistage", check=False)
    assert proc.returncode == 1
    assert len(proc.stderr.splitlines()) == 1
    assert "Untagged: multistage:latest" in proc.stdout.splitlines()
    assert MULTISTAGE not in ids_in_db(bilge_root)


# --- inspect, history, errors ----------------------------------------------------------------


def test_inspect_prefixes_and_names(shared):
    names = (
        ZOO,
        ZOO.removeprefix("sha256:"),
        ZOO.removeprefix("sha256:")[:12],
        "zoo",
        "zoo:latest",
        "docker.io/library/zoo:latest",
        "team/zoo:x",
        "localhost:5000/a/b:2",
    )
    got = json.loads(shared("inspect", "--", *names).stdout)
    assert [img["Id"] for img in got] == [ZOO] * len(names)


def test_inspect_missing_and_debug(shared):
    quiet = shared("inspect", "no-such-image", check=False)
    line = one_error_line(quiet)
    assert "No such object" in line and "no-such-image" in line
    assert json.loads(quiet.stdout) == []
    loud = shared("--debug", "inspect", "no-such-image", check=False)
    assert loud.returncode == 1
    assert "Traceback (most recent call last)" in loud.stderr
    assert loud.stderr.splitlines()[-1] == line


@pytest.mark.parametrize("fmt", ["json", "csv", "md", "table"])
def test_history_formats_carry_the_data(fmt, shared, fixtures_dir):
    want = [
        json.loads(line)["CreatedBy"]
        for line in (fixtures_dir / "docker" / "history.jsonl").read_text().splitlines()
        if json.loads(line)["ID"] == MULTISTAGE
    ]
    assert want, "history.jsonl has multistage's top entry"
    out = shared("history", "--no-trunc", "--format", fmt, "multistage").stdout
    if fmt == "json":
        assert json.loads(out)[0]["CreatedBy"] == want[0]
        return
    if fmt == "csv":  # quotes inside a cell are doubled, so compare parsed cells
        records = list(csv.reader(io.StringIO(out)))
        assert len(records) == 1 + 2  # a header, then multistage's two history entries (COPY, CMD)
        assert want[0] in records[1]
    else:
        assert want[0].strip() in out


# --- demo -----------------------------------------------------------------------------------


def test_demo_runs_without_touching_the_store(bilge, bilge_root, tmp_path):
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    proc = bilge("demo", env={"TMPDIR": str(scratch)}, timeout=120)
    lines = proc.stdout.splitlines()
    header = next(n for n, line in enumerate(lines) if line.split()[:4] == ["REPOSITORY", "TAG", "IMAGE", "ID"])
    rows = []
    for line in lines[header + 1 :]:
        if not line.strip():
            break
        rows.append(line.split())
    assert len(rows) >= 5, proc.stdout
    assert all(re.fullmatch(r"[0-9a-f]{12}", row[2]) for row in rows), rows
    assert "Traceback" not in proc.stderr and "Error" not in proc.stderr
    report = Path(lines[-1].rpartition(": ")[2])
    assert lines[-1].startswith("The space report") and report.parent == scratch
    assert report.read_text().startswith("<!DOCTYPE html>") and 'id="treemap"' in report.read_text()
    assert list(scratch.iterdir()) == [report], "the throw-away store was left behind"
    # the user's own store is not where the demo puts its images
    assert not (bilge_root / "bilge.db").exists() or ids_in_db(bilge_root) == set()


def test_demo_refuses_a_store_it_did_not_make(loaded, bilge_root):
    """`demo --root` prunes with -f: pointed at a user's own store it must not touch a thing."""
    before = ids_in_db(bilge_root)
    proc = loaded("demo", "--root", bilge_root, check=False)
    assert one_error_line(proc) == (
        f"Error: {bilge_root} is not empty: the demo prunes what it loads, so it only fills a new or "
        "empty directory (or, without --root, a throw-away one)"
    )
    assert proc.stdout == ""
    assert ids_in_db(bilge_root) == before and len(before) == 8


def test_demo_fills_an_empty_directory_it_is_given(bilge, tmp_path):
    target = tmp_path / "fresh"
    proc = bilge("demo", "--root", target, env={"TMPDIR": str(tmp_path)}, timeout=120)
    assert proc.stdout.startswith(
        f"Loaded 10 generated images (one base, two runtimes, six apps, an orphan) into {target}\n"
    )
    assert ids_in_db(target)
