"""`bilge explain` on a toy graph: who holds each layer, what removing the image frees (the
mark's answer, so the untagged parent only it stood on goes too), and what frees the rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from toygraph import Toy
from typer.testing import CliRunner

from bilge.cli import app
from bilge.reports.explain import explain
from bilge.reports.render_explain import render


@pytest.fixture
def toy(tmp_path: Path) -> Toy:
    toy = Toy(tmp_path / "store")
    base = toy.image("base", toy.stack(("b", 1000)), tags=("base:1",))
    toy.pin(base)
    mid = toy.image("mid", toy.stack(("b", 1000), ("m", 100)), parent=base)
    toy.image("app", toy.stack(("b", 1000), ("m", 100), ("a", 10)), parent=mid, tags=("app:1",))
    toy.image("sib", toy.stack(("b", 1000), ("m", 100), ("s", 20)), parent=mid, tags=("sib:1",))
    toy.container("web", toy.image_ids["sib"])
    toy.image("step", toy.stack(("b", 1000), ("m", 100), ("c", 5)), parent=mid, built=True, created=None)
    toy.image("solo", toy.stack(("b", 1000), ("solo", 7)), tags=("solo:1",))
    return toy


def test_holders_and_what_removal_frees(toy: Toy) -> None:
    e = explain(toy.graph(), toy.image_ids["app"])
    b, m, a = e.layers
    assert (a.freed, a.images, a.containers, a.build_cache) == (True, [], [], 0)
    assert (m.freed, m.images, m.containers, m.build_cache) == (False, ["sib:1"], ["web"], 1)
    assert b.images == ["base:1", "sib:1", "solo:1"] and b.pins == ["base:1"]
    assert e.frees == (10, 10) and e.rest == (1100, 1100)
    assert e.also_images == ["base:1", "sib:1", "solo:1"] and e.also_containers == ["web"]
    assert e.frees_with_all == (110, 110)  # the pinned base keeps b whatever goes
    assert e.blocked_by == ["base:1"]


def test_the_untagged_parent_only_it_stands_on_goes_with_it(tmp_path: Path) -> None:
    toy = Toy(tmp_path / "store")
    mid = toy.image("mid", toy.stack(("b", 1000), ("m", 100)))
    toy.image("app", toy.stack(("b", 1000), ("m", 100), ("a", 10)), parent=mid, tags=("app:1",))
    e = explain(toy.graph(), toy.image_ids["app"])
    assert e.frees == (1110, 1110) and e.rest == (0, 0)
    assert render(e, "table").splitlines()[-1] == "Removing app:1 frees 1.11kB (1110 bytes; 1110 on disk)."


def test_formats_and_errors(toy: Toy) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["--root", str(toy.root), "explain", "app:1", "--format", "json"])
    data = json.loads(result.stdout)
    assert data["frees"] == [10, 10] and len(data["layers"]) == 3
    text = runner.invoke(app, ["--root", str(toy.root), "explain", "app:1"]).stdout
    assert "Removing app:1 frees 10B (10 bytes; 10 on disk)." in text
    assert "Removing those too would free 110B" in text and "Kept whatever goes" in text
    csv = runner.invoke(app, ["--root", str(toy.root), "explain", "app:1", "--format", "csv"]).stdout
    assert csv.splitlines()[0].startswith("ChainID,Size,Disk,Freed")
    missing = runner.invoke(app, ["--root", str(toy.root), "explain", "nope:1"])
    assert missing.exit_code != 0 and "No such image" in str(missing.exception)
