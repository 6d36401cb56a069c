"""`bilge top` on toy graphs: ranks, sharing counted among top-level images, the four formats,
and the rich table with bars a terminal gets (plain text when piped)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from toygraph import Toy
from typer.testing import CliRunner

from bilge.cli import app
from bilge.reports.present import show
from bilge.reports.render_top import render_images
from bilge.reports.top import top_images, top_layers
from bilge.store.tables import render


@pytest.fixture
def toy(tmp_path: Path) -> Toy:
    toy = Toy(tmp_path / "store")
    toy.image("base", toy.stack(("b", 1000)), tags=("base:1",))
    toy.image("a", toy.stack(("b", 1000), ("a", 300)), tags=("a:1",))
    toy.image("c", toy.stack(("b", 1000), ("c", 50)), tags=("c:1",))
    toy.image("lone", toy.stack(("lone", 200)), tags=("lone:1",))
    toy.container("x", toy.image_ids["a"])
    return toy


def bilge(toy: Toy, *args: str) -> str:
    result = CliRunner().invoke(app, ["--root", str(toy.root), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_images_rank_by_unique_bytes(toy: Toy) -> None:
    ranks = top_images(toy.graph())
    assert [(r.name, r.usage.unique, r.usage.shared) for r in ranks] == [
        ("a:1", 300, 1000),
        ("lone:1", 200, 0),
        ("c:1", 50, 1000),
        ("base:1", 0, 1000),
    ]
    assert [r.name for r in top_images(toy.graph(), "size")] == ["a:1", "c:1", "base:1", "lone:1"]
    assert sum(r.usage.fair_share for r in ranks) == pytest.approx(1000 + 300 + 50 + 200)
    assert [r.name for r in top_images(toy.graph(), "unique", 2)] == ["a:1", "lone:1"]


def test_layers_rank_with_the_images_sharing_them(toy: Toy) -> None:
    first, *rest = top_layers(toy.graph())
    assert (first.size, first.images, first.containers) == (1000, ["a:1", "base:1", "c:1"], 1)
    assert [r.size for r in rest] == [300, 200, 50]


def test_formats(toy: Toy) -> None:
    data = json.loads(bilge(toy, "top", "--format", "json"))
    assert [d["UniqueSize"] for d in data] == [300, 200, 50, 0]
    assert data[0]["Containers"] == 1 and data[0]["RepoTags"] == ["a:1"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", data[0]["Created"])  # RFC 3339
    assert data[0]["LastUsed"] is None or data[0]["LastUsed"].endswith("Z")
    rows = list(csv.DictReader(io.StringIO(bilge(toy, "top", "--format", "csv"))))
    assert [r["UniqueSize"] for r in rows] == ["300", "200", "50", "0"]
    assert rows[0]["Created"] == data[0]["Created"]
    md = bilge(toy, "top", "--format", "md").splitlines()
    assert md[0].startswith("| IMAGE") and md[1].startswith("|--")
    plain = bilge(toy, "top").splitlines()
    assert plain[0].split()[:2] == ["IMAGE", "IMAGE"] and plain[1].startswith("a:1 ")
    assert "\x1b[" not in "".join(plain)  # piped: no terminal codes
    layers = json.loads(bilge(toy, "top", "--layers", "-n", "1", "--format", "json"))
    assert layers == [
        {"ChainID": toy.layer_ids["b"], "Size": 1000, "Disk": 1000, "Images": ["a:1", "base:1", "c:1"], "Containers": 1}
    ]


def test_an_unknown_order_is_one_line(toy: Toy) -> None:
    result = CliRunner().invoke(app, ["--root", str(toy.root), "top", "--by", "age"])
    assert result.exit_code != 0 and "unknown order 'age'" in str(result.exception)


def test_a_terminal_gets_a_rich_table_with_bars(toy: Toy) -> None:
    text = render_images(top_images(toy.graph()), "unique", "table", terminal=True)
    lines = text.splitlines()
    assert "\x1b[" in text and "UNIQUE" in lines[0]
    bars = [line.count("█") for line in lines[1:]]
    assert bars[0] == 20 and bars[0] > bars[1] > bars[2] > bars[3] == 0  # 300, 200, 50, 0 of 300


def test_piped_is_store_tables_plain_text() -> None:
    rows = [{"k": "x"}, {"k": "yy"}]
    assert show(rows, [("k", "K")], "table", terminal=False) == render(rows, [("k", "K")], "table")
