"""`--format` with Docker's Go templates, held to what Docker printed for the fixture images
(`../shared/fixtures/docker/images-a.jsonl`, `history.jsonl`), and the one rule for json and
csv: Docker's field names, exact integer bytes, RFC 3339 times, real nested values."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bilge.cli import app

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "docker"
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


class Run:
    """`bilge --root ROOT ARGS…` on the module's store."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, *args: str, code: int = 0) -> str:
        """stdout of a command that succeeds; stderr of one that fails, as the `bilge` process
        prints it (the front door's one line)."""
        if code:
            command = [sys.executable, "-m", "bilge", "--root", str(self.root), *args]
            proc = subprocess.run(command, capture_output=True, text=True)
            assert proc.returncode == code, (args, proc.stderr)
            return proc.stderr
        result = CliRunner().invoke(app, ["--root", str(self.root), *args])
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.stdout


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Run:
    if not FIXTURES.is_dir():
        pytest.fail(f"{FIXTURES} is missing: the shared fixtures must sit next to the repo", pytrace=False)
    run = Run(tmp_path_factory.mktemp("formats") / "store")
    run("load", "-q", "-i", str(FIXTURES / "images.tar.gz"))
    return run


def docker_lines(name: str, ids: set[str]) -> list[str]:
    """The fixture's `{{json .}}` lines for the images bilge holds (Docker's -a also listed the
    classic builder's intermediates, which `docker save` leaves out)."""
    return [line for line in (FIXTURES / name).read_text().splitlines() if json.loads(line)["ID"] in ids]


def without_since(line: str) -> str:
    """CreatedSince is "N seconds ago" from when Docker ran: the one field that moves."""
    return re.sub(r'"CreatedSince":"[^"]*",', "", line)


def by_time(lines: list[str], key: Callable[[str], str]) -> list[str]:
    """Docker sorts images by whole seconds and leaves ties in no set order: compare the lines
    within each second as a set, the seconds in order."""
    return sorted(lines, key=lambda line: (key(line), line))


def test_images_json_template_is_dockers_line(loaded: Run) -> None:
    mine = loaded("images", "-a", "--no-trunc", "--format", "{{json .}}").splitlines()
    ids = {json.loads(line)["ID"] for line in mine}
    want = docker_lines("images-a.jsonl", ids)
    assert len(mine) == len(want) == 9
    created = [json.loads(line)["CreatedAt"] for line in mine]
    assert created == sorted(created, reverse=True)  # newest first, as Docker

    def at(line: str) -> str:
        return json.loads(line)["CreatedAt"]

    assert by_time(list(map(without_since, mine)), at) == by_time(list(map(without_since, want)), at)


def test_images_templates_print_what_docker_prints(loaded: Run) -> None:
    ids = {json.loads(line)["ID"] for line in loaded("images", "--no-trunc", "--format", "{{json .}}").splitlines()}
    docker = [json.loads(line) for line in docker_lines("images-a.jsonl", ids)]
    names = loaded("images", "--format", "{{.Repository}}:{{.Tag}}").splitlines()
    assert sorted(names) == sorted(f"{d['Repository']}:{d['Tag']}" for d in docker)

    table = loaded("images", "--format", "table {{.ID}}\\t{{.Size}}").splitlines()
    assert table[0] == "IMAGE ID       SIZE"  # Docker's header, tabwriter's padding
    short = {d["ID"]: d["ID"].removeprefix("sha256:")[:12] for d in docker}
    assert sorted(table[1:]) == sorted(f"{short[d['ID']]}   {d['Size']}" for d in docker)


def test_images_functions(loaded: Run) -> None:
    got = loaded("images", "--format", "{{upper .Repository}} {{lower .Tag}} {{title .Tag}}", "busybox")
    assert got == "BUSYBOX latest Latest\n"
    assert loaded("images", "--format", '{{println .Repository "x"}}', "busybox") == "busybox x\n\n"
    assert loaded("images", "--format", '{{join (split .Repository "b") "-"}}', "busybox") == "-usy-ox\n"


def test_history_json_template_is_dockers_line(loaded: Run) -> None:
    mine = loaded("history", "--no-trunc", "--format", "{{json .}}", "zoo").splitlines()
    top = json.loads(mine[0])["ID"]
    lines = (FIXTURES / "history.jsonl").read_text().splitlines()
    start = next(n for n, line in enumerate(lines) if json.loads(line)["ID"] == top)
    want = lines[start : start + len(mine)]
    # below the top, Docker had the classic builder's intermediates; bilge (as Docker after a
    # load) shows <missing>
    want = [want[0]] + [re.sub(r'"ID":"sha256:[0-9a-f]{64}"', '"ID":"\\\\u003cmissing\\\\u003e"', w) for w in want[1:]]
    assert list(map(without_since, mine)) == list(map(without_since, want))


def test_a_bad_template_is_one_line(loaded: Run) -> None:
    message = loaded("images", "--format", "{{.Nope}}", code=1)
    assert message == (
        'Error: template parsing error: template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope\n'
    )
    assert loaded("images", "--format", "{{nope}}", code=1) == (
        'Error: template parsing error: template: :1: function "nope" not defined\n'
    )
    assert "unknown format 'yaml'" in loaded("images", "--format", "yaml", code=1)


# --- the rule for json and csv ---------------------------------------------------------------


def check_json(records: list[dict], names: set[str], byte_fields: set[str], time_fields: set[str]) -> None:
    assert records and all(set(r) == names for r in records), records[0]
    for r in records:
        for key in byte_fields:
            assert type(r[key]) is int, (key, r[key])
        for key in time_fields:
            assert r[key] is None or RFC3339.fullmatch(r[key]), (key, r[key])
        for value in r.values():
            assert not (isinstance(value, str) and value.startswith(("[", "{"))), value  # no JSON in strings


def check_csv(text: str, names: list[str], byte_fields: set[str], time_fields: set[str]) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text.splitlines()[0] == ",".join(names)
    for r in rows:
        assert all(r[key].isdigit() for key in byte_fields), r
        assert all(RFC3339.fullmatch(r[key]) for key in time_fields), r
        assert not any(v.startswith(("[", "{")) for v in r.values()), r
    return rows


IMAGE_FIELDS = ["ID", "Repository", "Tag", "Digest", "CreatedAt", "Size", "LastUsedAt"]
HISTORY_FIELDS = ["ID", "CreatedAt", "CreatedBy", "Size", "Comment", "Tags"]


def test_images_json_and_csv(loaded: Run) -> None:
    data = json.loads(loaded("images", "--format", "json"))
    check_json(data, set(IMAGE_FIELDS), {"Size"}, {"CreatedAt", "LastUsedAt"})
    busybox = next(r for r in data if r["Repository"] == "busybox")
    assert busybox["ID"].startswith("sha256:") and busybox["Size"] == 1985472  # api-images-all.json
    rows = check_csv(loaded("images", "--format", "csv"), IMAGE_FIELDS, {"Size"}, {"CreatedAt"})
    assert [r["ID"] for r in rows] == [r["ID"] for r in data]


def test_history_json_and_csv(loaded: Run) -> None:
    data = json.loads(loaded("history", "--format", "json", "zoo"))
    check_json(data, set(HISTORY_FIELDS), {"Size"}, {"CreatedAt"})
    assert data[0]["Tags"] == ["zoo:latest"] and data[1]["Tags"] == []
    rows = check_csv(loaded("history", "--format", "csv", "zoo"), HISTORY_FIELDS, {"Size"}, {"CreatedAt"})
    assert rows[0]["Tags"] == "zoo:latest" and len(rows) == len(data)


def test_gc_history_json_and_csv(loaded: Run) -> None:
    loaded("image", "prune", "-a", "--dry-run")
    (run,) = json.loads(loaded("gc", "history", "--format", "json"))
    assert run["dry_run"] is True and isinstance(run["policy"], dict) and run["policy"]["images"]["all"] is True
    assert len(run["removed"]["images"]) == 8 and run["planned_bytes"] == 3854111  # every image, exact bytes
    assert RFC3339.fullmatch(run["started"]) and RFC3339.fullmatch(run["finished"])
    (row,) = list(csv.DictReader(io.StringIO(loaded("gc", "history", "--format", "csv"))))
    assert (row["dry_run"], row["policy"], row["removed_images"], row["planned_bytes"]) == (
        "true",
        "images.all=true",
        "8",
        "3854111",
    )
    assert RFC3339.fullmatch(row["started"])
    assert (
        loaded("gc", "history", "--format", "{{.command}} {{.dry_run}} {{len .removed.layers}}")
        == "image prune true 15\n"
    )


def created_only(run: Run) -> dict:
    """The fixture's created-only container (`docker create --name created-only app:v1`), as
    bilge records one; and Docker's `ps -a -s --format '{{json .}}'` line for it."""
    docker = next(
        json.loads(line) for line in (FIXTURES / "ps-a-s.jsonl").read_text().splitlines() if "created-only" in line
    )
    image_id = next(r["ID"] for r in json.loads(run("images", "--format", "json")) if r["Tag"] == "v1")
    con = sqlite3.connect(run.root / "bilge.db")
    config = {
        "Config": {"Cmd": ["/opt/app.bin"], "Image": "app:v1", "Labels": {"version": "1"}},
        "HostConfig": {"NetworkMode": "bridge"},
    }
    with con:
        con.execute(
            "INSERT INTO containers (id, name, image_id, state, created, driver, config, labels, size_rw, disk_rw)"
            " VALUES (?, 'created-only', ?, 'created', 1795400000, 'overlay', ?, ?, 0, 0)",
            [docker["ID"], image_id, json.dumps(config), json.dumps({"version": "1"})],
        )
    con.close()
    return docker


def test_ps_templates_and_json(loaded: Run) -> None:
    docker = created_only(loaded)
    line = json.loads(loaded("ps", "-a", "-s", "--no-trunc", "--format", "{{json .}}"))
    moving = {"CreatedAt", "RunningFor", "Platform"}  # the time it ran; a field Docker 24's CLI added
    assert {k: v for k, v in line.items() if k not in moving} == {k: v for k, v in docker.items() if k not in moving}
    table = loaded("ps", "-a", "-s", "--format", "table {{.Names}}\\t{{.Image}}\\t{{.Size}}\\t{{.Labels}}")
    assert table == (
        "NAMES          IMAGE     SIZE                  LABELS\n"
        "created-only   app:v1    0B (virtual 2.39MB)   version=1\n"
    )
    (record,) = json.loads(loaded("ps", "-a", "-s", "--format", "json"))
    assert (record["ID"], record["SizeRw"], record["SizeRootFs"], record["Labels"]) == (
        docker["ID"],
        0,
        2385472,  # api-containers-size.json
        {"version": "1"},
    )
    assert RFC3339.fullmatch(record["CreatedAt"])
    (row,) = check_csv(
        loaded("ps", "-a", "-s", "--format", "csv"),
        list(record),
        {"SizeRw", "SizeRootFs"},
        {"CreatedAt"},
    )
    assert row["Labels"] == "version=1"


@pytest.fixture
def fresh(tmp_path: Path) -> Run:
    run = Run(tmp_path / "store")
    run("load", "-q", "-i", str(FIXTURES / "images.tar.gz"))
    return run


def test_system_df_templates_and_csv(fresh: Run) -> None:
    lines = fresh("system", "df", "--format", "{{json .}}").splitlines()
    want = (FIXTURES / "system-df.jsonl").read_text().splitlines()
    assert [list(json.loads(line)) for line in lines] == [list(json.loads(line)) for line in want]  # Docker's keys
    assert lines[0] == '{"Active":"0","Reclaimable":"3.854MB (100%)","Size":"3.854MB","TotalCount":"8","Type":"Images"}'
    assert fresh("df", "--format", "table {{.Type}}\\t{{.Size}}").splitlines()[:2] == [
        "TYPE            SIZE",
        "Images          3.854MB",
    ]
    names = [
        "Type",
        "ID",
        "Names",
        "CreatedAt",
        "Size",
        "SharedSize",
        "UniqueSize",
        "FairShare",
        "Containers",
        "LastUsedAt",
    ]
    rows = check_csv(fresh("df", "-v", "--format", "csv"), names, {"Size", "SharedSize", "UniqueSize"}, {"CreatedAt"})
    assert len(rows) == 8 and {r["Type"] for r in rows} == {"image"}  # each image once, no prose lines
    assert sum(int(r["Size"]) for r in rows) == 16_666_943  # exact bytes, each image once
    assert next(r for r in rows if "app:v2" in r["Names"])["Names"] == "app:latest,app:v2"
    summary = check_csv(
        fresh("df", "--format", "csv"), [*DF_FIELDS, "PruneFrees"], {"Size", "Reclaimable", "PruneFrees"}, set()
    )
    assert [r["Type"] for r in summary] == ["Images", "Containers", "Local Volumes", "Build Cache"]


DF_FIELDS = ("Type", "TotalCount", "Active", "Size", "Reclaimable")


def test_inspect_takes_a_template(loaded: Run) -> None:
    inspected = {img["Id"]: img for img in json.loads((FIXTURES / "inspect.json").read_text())}
    got = loaded("inspect", "-f", "{{.Id}} {{json .RootFS.Layers}} {{.Config.Labels.version}}", "app:v1", "zoo")
    lines = got.splitlines()
    assert len(lines) == 2
    for line in lines:
        image_id, layers, label = line.split(" ", 2)
        assert json.loads(layers) == inspected[image_id]["RootFS"]["Layers"]
    assert lines[0].endswith(" 1") and lines[1].endswith(" <no value>")  # a map's missing key, as Go prints it
    assert loaded("inspect", "--format", "{{range .RepoTags}}{{.}} {{end}}", "app:v2") == "app:latest app:v2 \n"


def test_top_takes_a_template(loaded: Run) -> None:
    """`top` has no Docker counterpart: a template sees its json records, headers in words."""
    data = json.loads(loaded("top", "-n", "2", "--format", "json"))
    got = loaded("top", "-n", "2", "--format", "table {{.Name}}\\t{{.UniqueSize}}")
    width = max(len("NAME") + 3, 10, *(len(d["Name"]) + 3 for d in data))
    assert got.splitlines() == ["NAME".ljust(width) + "UNIQUE SIZE"] + [
        d["Name"].ljust(width) + str(d["UniqueSize"]) for d in data
    ]
    layers = loaded("top", "--layers", "-n", "1", "--format", '{{.ChainID}} {{join .Images ","}}')
    (layer,) = json.loads(loaded("top", "--layers", "-n", "1", "--format", "json"))
    assert layers == f"{layer['ChainID']} {','.join(layer['Images'])}\n"
