"""The reports' commands: system df (and its alias df)."""

from typing import Annotated

import typer

from bilge.store.cli import FormatOpt, check_format, open_store, out


def system_df(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show detailed information on space usage")] = False,
    disk: Annotated[
        bool, typer.Option("--disk", help="Allocated bytes (what deleting frees) instead of apparent size")
    ] = False,
    format: FormatOpt = "table",
) -> None:
    """Show disk usage: images, containers, build cache (exact bytes with --format json)."""
    from .df import system_df as compute
    from .render_df import render

    check_format(format)
    out(render(compute(open_store()), verbose, disk, format))


def register(app: typer.Typer, system_app: typer.Typer) -> None:
    system_app.command("df")(system_df)
    app.command("df", help="Alias of `system df`.")(system_df)
