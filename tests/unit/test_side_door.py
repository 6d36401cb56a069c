"""The side door (bilge/direct.py) reads the commands run most without typer: the flags it
takes it reads as click does, it declines everything else for typer to answer, and a line it
takes reaches the same function with the same arguments through either door."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bilge import direct
from bilge.store import session

BUILD = {"tags": [], "file": None, "build_args": [], "no_cache": False, "target": None, "labels": [], "quiet": False}
IMAGES = {"repository": None, "all": False, "quiet": False, "digests": False, "no_trunc": False, "filter": [],
          "format": "table"}  # fmt: skip
DF = {"verbose": False, "disk": False, "format": "table"}
LOAD = {"input": None, "quiet": False, "platform": None}
PULL = {"platform": None, "quiet": False, "insecure": False}


@pytest.mark.parametrize(
    ("argv", "root", "debug", "values"),
    [
        (["build", "ctx"], None, False, {**BUILD, "context": "ctx"}),
        (["image", "build", "ctx"], None, False, {**BUILD, "context": "ctx"}),
        (["--root", "/r", "--debug", "build", "-q", "-t", "a:1", "ctx"], "/r", True,
         {**BUILD, "context": "ctx", "quiet": True, "tags": ["a:1"]}),
        (["--root=/r", "build", "ctx", "--tag=b", "-tc", "-qt", "d"], "/r", False,
         {**BUILD, "context": "ctx", "quiet": True, "tags": ["b", "c", "d"]}),
        (["build", "-f", "F", "--build-arg", "X=1", "--build-arg=Y", "--no-cache", "--target", "s", "--label", "k=v",
          "ctx"], None, False, {**BUILD, "context": "ctx", "file": "F", "build_args": ["X=1", "Y"], "no_cache": True,
                                "target": "s", "labels": ["k=v"]}),
        (["build", "--", "-ctx"], None, False, {**BUILD, "context": "-ctx"}),
        (["build", "-"], None, False, {**BUILD, "context": "-"}),
        (["images"], None, False, IMAGES),
        (["image", "ls", "-aq"], None, False, {**IMAGES, "all": True, "quiet": True}),
        (["images", "app", "--digests", "--no-trunc", "-f", "dangling=false", "--filter=label=a", "--format", "json"],
         None, False, {**IMAGES, "repository": "app", "digests": True, "no_trunc": True,
                       "filter": ["dangling=false", "label=a"], "format": "json"}),
        (["images", "-fdangling=true", "--format={{.ID}}", "--", "-x"], None, False,
         {**IMAGES, "repository": "-x", "filter": ["dangling=true"], "format": "{{.ID}}"}),
        (["--root", "/r", "system", "df"], "/r", False, DF),
        (["df", "-v", "--disk", "--format", "csv"], None, False, {"verbose": True, "disk": True, "format": "csv"}),
        (["load"], None, False, LOAD),
        (["image", "load", "-qi", "a.tar", "--platform=linux/arm64"], None, False,
         {"input": "a.tar", "quiet": True, "platform": "linux/arm64"}),
        (["pull", "a:1"], None, False, {**PULL, "name": "a:1"}),
        (["image", "pull", "-q", "--platform", "linux/arm64", "--insecure", "r/x"], None, False,
         {"name": "r/x", "platform": "linux/arm64", "quiet": True, "insecure": True}),
    ],
)  # fmt: skip
def test_reads_a_line_as_click_does(argv: list[str], root: str | None, debug: bool, values: dict) -> None:
    call = direct.read(argv)
    assert call is not None
    assert (call.root, call.debug, call.values) == (root, debug, values)


@pytest.mark.parametrize(
    "argv",
    [
        [], ["build"], ["build", "a", "b"], ["build", "--help"], ["build", "-h", "ctx"], ["build", "--unknown", "ctx"],
        ["build", "ctx", "-t"], ["build", "--no-cache=1", "ctx"], ["--root"], ["--other", "build", "ctx"],
        ["build", "-x", "ctx"], ["build", "-qx", "ctx"], ["--version"], ["images", "a", "b"], ["images", "--help"],
        ["images", "--all=1"], ["images", "--format"], ["images", "-aqx"], ["image"], ["image", "rm", "x"],
        ["system"], ["system", "prune"], ["system", "df", "extra"], ["df", "--filter", "x"], ["top"], ["ps"],
        ["load", "a.tar"], ["load", "-i"], ["load", "--help"],
        ["pull"], ["pull", "a", "b"], ["pull", "--help"], ["pull", "-a", "x"], ["pull", "--platform"], ["push", "x"],
    ],
)  # fmt: skip
def test_leaves_the_rest_to_typer(argv: list[str]) -> None:
    assert direct.read(argv) is None


@pytest.mark.parametrize(
    "argv",
    [
        ["build", "ctx"],
        ["--root", "/r", "build", "-q", "-t", "a:1", "-t", "b", "ctx"],
        ["image", "build", "--file=F", "--build-arg", "X=1", "--no-cache", "--target", "s", "--label", "k=v", "ctx"],
        ["build", "-qt", "x", "--", "ctx"],
        ["images"],
        ["--root", "/r", "--debug", "image", "ls", "-aq", "--digests", "--no-trunc"],
        ["images", "app", "-f", "dangling=false", "--filter", "label=a", "--format", "json"],
        ["system", "df"],
        ["--root=/r", "df", "-v", "--disk", "--format", "{{.Type}}"],
        ["load", "--input", "a.tar"],
        ["--root", "/r", "image", "load", "-q", "-i", "a.tar", "--platform", "linux/amd64"],
        ["pull", "x"],
        ["--root", "/r", "image", "pull", "-q", "--platform=linux/amd64", "--insecure", "x"],
    ],
)
def test_both_doors_make_the_same_call(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from bilge.cli import command_for

    calls: list[tuple[Any, ...]] = []

    def record(*args: Any, **kwargs: Any) -> None:
        calls.append((session.settings().root, session.settings().debug, args, kwargs))

    for target in {c.target for c in direct.COMMANDS.values()}:
        module, _, function = target.partition(":")
        monkeypatch.setattr(f"{module}.{function}", record)
    call = direct.read(argv)
    assert call is not None
    call.run()
    command_for(argv).main(argv, prog_name="bilge", obj=session.Settings(), standalone_mode=False)
    ours, typers = calls
    assert ours == typers
    assert ours[0] == (Path(call.root) if call.root else None)


def test_a_command_through_the_side_door_leaves_its_database_closed(tmp_path: Path, fixtures_dir: Path) -> None:
    """The side door ends by os._exit, past the interpreter's teardown. The database must be
    closed all the same: the last connection to close moves the WAL into bilge.db, and a user
    who may read the store but not write it cannot open one that still has a WAL."""
    root = tmp_path / "store"
    archive = fixtures_dir / "docker" / "images.tar.gz"
    load = [sys.executable, "-m", "bilge", "--root", str(root), "load", "-q", "-i", str(archive)]
    assert direct.read(load[3:]) is not None  # the line is one the side door takes
    subprocess.run(load, check=True, capture_output=True)
    assert sorted(p.name for p in root.glob("bilge.db*")) == ["bilge.db"]
