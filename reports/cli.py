"""The reports' commands: system df (and its alias df), metrics."""

from pathlib import Path
from typing import Annotated, Optional

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


def metrics(
    output: Annotated[
        Optional[Path],
        typer.Option("--output", "-o", help="Write to FILE atomically (for node_exporter's textfile collector)"),
    ] = None,
    top: Annotated[
        int, typer.Option("--top", "-n", min=0, help="Per-image series for the N images with most unique bytes")
    ] = 20,
) -> None:
    """Prometheus text exposition of the store's space: bytes by type, reclaimable, top images, last prune."""
    from .metrics import render_metrics, write_metrics

    store = open_store()
    if output is None:
        out(render_metrics(store, top).rstrip("\n"))
    else:
        write_metrics(store, output, top)


def register(app: typer.Typer, system_app: typer.Typer) -> None:
    system_app.command("df")(system_df)
    app.command("df", help="Alias of `system df`.")(system_df)
    app.command()(metrics)
