"""The typer front door: mounts each room's commands (bilge/entry.py runs them and turns errors into one clear line)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Optional

import click
import typer
import typer.core

from bilge.cron import cli as cron_cli
from bilge.gc import cli as gc_cli
from bilge.reports import cli as reports_cli
from bilge.store import cli as store_cli
from bilge.store import session
from bilge.store.build import cli as build_cli
from bilge.store.containers import cli as container_cli
from bilge.store.registry import cli as registry_cli


class Group(typer.core.TyperGroup):
    """click's group with two habits changed: a group named without a command prints its help
    and exits 0 (click exits 2), and the command list shows each command's whole first
    paragraph, wrapped, where click cuts it at 45 characters or the first period."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            click.echo(ctx.get_help())
            ctx.exit(0)
        return super().parse_args(ctx, args)

    def _main_shell_completion(self, ctx_args: Any, prog_name: str, complete_var: str | None = None) -> None:
        """A shell asking for completions (the script `bilge completion` prints sets the
        variable): typer's completion classes answer in the form that script reads; typer
        registers them only when it adds its own --install-completion."""
        if COMPLETE_VAR in os.environ:
            from typer._completion_classes import completion_init

            completion_init()
        super()._main_shell_completion(ctx_args, prog_name, complete_var)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                text = command.short_help or (command.help or "").split("\n\n")[0]
                rows.append((name, " ".join(text.split())))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _group(help: str) -> typer.Typer:
    # suggest_commands off: click already says "Did you mean …?"; typer's would say it again
    return typer.Typer(cls=Group, rich_markup_mode=None, help=help, no_args_is_help=True, suggest_commands=False)


app = typer.Typer(
    name="bilge",
    help="A Docker-compatible image store that knows where your disk went.",
    cls=Group,
    no_args_is_help=True,
    suggest_commands=False,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
image_app = _group("Manage images")
container_app = _group("Manage containers")
system_app = _group("Disk usage and pruning across the store")
gc_app = _group("The garbage collector's record")
builder_app = _group("Manage builds")
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


def _version() -> str:
    from importlib.metadata import version

    return version("bilge")


def _print_version(value: bool) -> None:
    if value:
        click.echo(f"bilge version {_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    ctx: typer.Context,
    root: Annotated[
        Optional[Path], typer.Option("--root", envvar="BILGE_ROOT", readable=False, help="Store root directory")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors")] = False,
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit")
    ] = False,
) -> None:
    if not isinstance(ctx.obj, session.Settings):
        ctx.obj = session.Settings()
    ctx.obj.root, ctx.obj.debug = root, debug
    session.use(ctx.obj)


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


@app.command()
def version() -> None:
    """Show bilge's version and the Python and platform it runs on."""
    import platform

    click.echo(f"bilge version {_version()}")
    click.echo(f"Python {platform.python_version()} on {platform.system()}/{platform.machine()}")


SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_BILGE_COMPLETE"


@app.command()
def completion(shell: Annotated[str, typer.Argument(help="bash, zsh or fish")]) -> None:
    """Print the script that makes a shell complete bilge's commands and options:
    `source <(bilge completion bash)`, or save it where the shell loads completions."""
    from typer._completion_shared import get_completion_script

    from bilge.store.errors import InvalidInput

    if shell not in SHELLS:
        raise InvalidInput(f"unknown shell {shell!r} (choose from {', '.join(SHELLS)})")
    click.echo(get_completion_script(prog_name="bilge", complete_var=COMPLETE_VAR, shell=shell))


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
