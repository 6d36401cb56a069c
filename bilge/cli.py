"""The typer front door: mounts each room's commands (bilge/entry.py runs them and turns errors into one clear line)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import click
import typer

from bilge.cron import cli as cron_cli
from bilge.gc import cli as gc_cli
from bilge.reports import cli as reports_cli
from bilge.store import cli as store_cli
from bilge.store.build import cli as build_cli
from bilge.store.containers import cli as container_cli
from bilge.store.registry import cli as registry_cli

app = typer.Typer(
    name="bilge",
    help="A Docker-compatible image store that knows where your disk went.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
image_app = typer.Typer(rich_markup_mode=None, help="Manage images", no_args_is_help=True)
container_app = typer.Typer(rich_markup_mode=None, help="Manage containers", no_args_is_help=True)
system_app = typer.Typer(rich_markup_mode=None, help="Disk usage and pruning across the store", no_args_is_help=True)
gc_app = typer.Typer(rich_markup_mode=None, help="The garbage collector's record", no_args_is_help=True)
builder_app = typer.Typer(rich_markup_mode=None, help="Manage builds", no_args_is_help=True)
app.add_typer(image_app, name="image")
app.add_typer(container_app, name="container")
app.add_typer(system_app, name="system")
app.add_typer(gc_app, name="gc")
app.add_typer(builder_app, name="builder")
store_cli.register(app, image_app)
container_cli.register(app, container_app)
registry_cli.register(app, image_app)
build_cli.register(app, image_app)
gc_cli.register(app, image_app, container_app, system_app, gc_app, builder_app)
reports_cli.register(app, system_app)
cron_cli.register(app)


@app.callback()
def _options(
    ctx: typer.Context,
    root: Annotated[Optional[Path], typer.Option("--root", envvar="BILGE_ROOT", help="Store root directory")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors")] = False,
) -> None:
    if not isinstance(ctx.obj, store_cli.Settings):
        ctx.obj = store_cli.Settings()
    ctx.obj.root, ctx.obj.debug = root, debug


@app.command()
def demo(
    keep: Annotated[
        Optional[Path],
        typer.Option("--root", help="Fill this new or empty directory (never a store) instead of a throw-away one"),
    ] = None,
) -> None:
    """Fill a throw-away store with generated images that share layers, then show where the space goes."""
    from bilge.demo import run

    run(keep)


def command_for(args: list[str]) -> click.Command:
    """The click command for this invocation, with only the command it names converted.

    typer turns every registered function into a click command on each start, inspecting all
    their signatures: about 45 ms of every command, more than anything a read-only command then
    does. The command's name is the first word that is not one of the front door's options; with
    none (help) or an unknown one (click's error and suggestions), everything is converted.
    """
    import typer.main

    name = _command_name(args)
    commands = [c for c in app.registered_commands if _registered_name(c) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return typer.main.get_command(app)
    everything = app.registered_commands, app.registered_groups
    app.registered_commands, app.registered_groups = commands, groups
    try:
        return typer.main.get_command(app)
    finally:
        app.registered_commands, app.registered_groups = everything


def _command_name(args: list[str]) -> str | None:
    words = iter(args)
    for word in words:
        if word == "--root":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _registered_name(info: typer.models.CommandInfo) -> str:
    return info.name or (info.callback.__name__ if info.callback else "").lower().replace("_", "-")


def main() -> None:
    """The `bilge` command: bilge/entry.py, which also serves `bilge build` without typer."""
    from bilge.entry import main as entry

    entry()
