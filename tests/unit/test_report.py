"""`bilge report` on a toy store: the document's sections and numbers (the other reports'; system df
and so the report read real containers, which tests/test_reports.py has),
its four formats, the atomic write, --snapshot's trend, and --merge's fleet view."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from toygraph import Toy
from typer.testing import CliRunner

from bilge.cli import app
from bilge.reports.document import SCHEMA_VERSION, collect, merge, render, write_report
from bilge.reports.whatif import what_if
from bilge.store.errors import InvalidInput


@pytest.fixture
def toy(tmp_path: Path) -> Toy:
    toy = Toy(tmp_path / "store")
    toy.image("base", toy.stack(("b", 1000)), tags=("base:1",))
    toy.image("a", toy.stack(("b", 1000), ("a", 300)), tags=("a:1",))
    toy.image("loose", toy.stack(("b", 1000), ("l", 70)))
    return toy


def bilge(toy: Toy, *args: str) -> str:
    result = CliRunner().invoke(app, ["--root", str(toy.root), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_document_carries_every_report(toy: Toy) -> None:
    doc = collect(toy.store)
    assert doc["schema_version"] == SCHEMA_VERSION and doc["kind"] == "host"
    assert [i["UniqueSize"] for i in doc["images"]] == [300, 70, 0]
    assert {r["Type"]: r["Size"] for r in doc["totals"]}["Images"] == 1370
    assert [s["bytes"] for s in doc["what_if"]] == [s.bytes for s in what_if(toy.store)]
    assert doc["layers"][0]["Images"] == sorted(doc["layers"][0]["Images"]) and doc["layers"][0]["Size"] == 1000
    # the toy's layers have no real tar-split: waste says so per image instead of failing the report
    assert all("corrupt tar-split" in w["error"] for w in doc["waste"])
    assert doc["trends"] == []


def test_formats(toy: Toy) -> None:
    doc = collect(toy.store)
    assert json.loads(render(doc, "json")) == doc
    md = render(doc, "md")
    assert md.startswith("# bilge space report: ") and "## What each prune would free" in md
    assert "| a:1 " in md and "No usage snapshots yet" in md
    rows = list(csv.DictReader(io.StringIO(render(doc, "csv"))))
    assert {"section": "images", "item": "a:1", "field": "UniqueSize", "value": "300"} in rows
    page = render(doc, "html")
    assert page.startswith("<!DOCTYPE html>") and 'id="treemap"' in page and 'id="unique-shared"' in page
    assert "<script src=" not in page and "Plotly.newPlot" in page  # plotly.js inlined, nothing fetched
    with pytest.raises(InvalidInput, match="unknown report format"):
        render(doc, "pdf")


def test_write_report_is_atomic(toy: Toy, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "r.json").write_text("old")
    write_report(toy.store, out / "r.json", "json")
    assert json.loads((out / "r.json").read_text())["kind"] == "host"
    assert [p.name for p in out.iterdir()] == ["r.json"]  # no temporary file left beside it


def test_snapshot_gives_the_trend(toy: Toy) -> None:
    doc = json.loads(bilge(toy, "report", "--snapshot", "--format", "json"))
    [snap] = doc["trends"]
    assert snap["reason"] == "report" and snap["images_bytes"] == 1370
    assert 'id="usage"' in bilge(toy, "report")


def test_merge_is_the_fleet_view(toy: Toy, tmp_path: Path) -> None:
    one = collect(toy.store)
    two = {**one, "host": "other", "images": one["images"][:1]}
    paths = [tmp_path / "one.json", tmp_path / "two.json"]
    for path, doc in zip(paths, [one, two]):
        path.write_text(json.dumps(doc))
    fleet = merge(paths)
    assert [h["host"] for h in fleet["hosts"]] == [one["host"], "other"]
    assert fleet["images"][0]["Name"] == "a:1" and fleet["images"][0]["UniqueSize"] == 600
    assert fleet["images"][0]["Hosts"] == [one["host"], "other"]
    text = bilge(toy, "report", "--merge", str(paths[0]), str(paths[1]), "--format", "md")
    assert text.startswith("# bilge fleet report: 2 hosts")
    assert 'id="hosts"' in bilge(toy, "report", "--merge", str(paths[0]), "--merge", str(paths[1]))
    paths[1].write_text("{}")
    with pytest.raises(InvalidInput, match="not a bilge JSON report"):
        merge(paths)
