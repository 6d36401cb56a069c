"""The reports' commands: system df (and its alias df), top, explain, waste, report, metrics, trends."""

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from bilge.store.cli import FormatOpt
from bilge.store.session import check_format, err, is_template, open_store, out


def system_df(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show detailed information on space usage")] = False,
    disk: Annotated[
        bool, typer.Option("--disk", help="Allocated bytes (what deleting frees) instead of apparent size")
    ] = False,
    format: FormatOpt = "table",
) -> None:
    """Show disk usage: images, containers, build cache (exact bytes with --format json)."""
    from .df_command import system_df as run

    run(verbose=verbose, disk=disk, format=format)


def top(
    number: Annotated[Optional[int], typer.Option("-n", min=1, help="Show the first N (default: all)")] = None,
    by: Annotated[str, typer.Option("--by", help="unique (what rmi frees), size, fair or disk")] = "unique",
    layers: Annotated[bool, typer.Option("--layers", help="Rank layers, with the images sharing each")] = False,
    format: FormatOpt = "table",
) -> None:
    """Images ranked by what deleting them gives back (exact bytes, as system df -v counts them)."""
    from bilge.gc.graph import Graph
    from bilge.store.errors import InvalidInput

    from .render_top import render_images, render_layers
    from .top import ORDERS, top_images, top_layers

    check_format(format)
    if by not in ORDERS:
        raise InvalidInput(f"unknown order {by!r} (choose from {', '.join(ORDERS)})")
    graph = Graph.load(open_store().db)
    if is_template(format):  # the json records' fields
        from bilge.store.session import templated
        from bilge.store.timeutil import with_rfc3339

        from .render_top import image_data, layer_data

        if layers:
            templated(format, layer_data(top_layers(graph, number)))
        else:
            templated(format, with_rfc3339(image_data(top_images(graph, by, number)), "LastUsed", "Created"))
        return
    if layers:
        out(render_layers(top_layers(graph, number), format))
    else:
        out(render_images(top_images(graph, by, number), by, format))


def explain(
    image: Annotated[str, typer.Argument(help="Image name or ID")],
    format: FormatOpt = "table",
) -> None:
    """Why removing an image frees what it frees: its layers, who else holds each, what frees the rest."""
    from bilge.gc.graph import Graph

    from .explain import explain as compute
    from .render_explain import render

    check_format(format)
    store = open_store()
    image_id = store.images.resolve(image)
    out(render(compute(Graph.load(store.db), image_id), format))


def waste(
    image: Annotated[str, typer.Argument(help="Image name or ID")],
    number: Annotated[int, typer.Option("-n", min=1, help="Show the N biggest offenders")] = 10,
    format: FormatOpt = "table",
) -> None:
    """Bytes one layer writes and a later one overwrites or deletes (as dive finds), and the efficiency."""
    from .render_waste import render
    from .waste import analyse

    check_format(format)
    store = open_store()
    image_id = store.images.resolve(image)
    out(render(analyse(store, image_id), image, format, number))


def report(
    format: Annotated[str, typer.Option("--format", help="html, md, json or csv")] = "html",
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Write to FILE atomically (default: stdout)")
    ] = None,
    merge: Annotated[
        Optional[list[Path]],
        typer.Option("--merge", help="Combine these hosts' JSON reports into a fleet report instead (repeatable)"),
    ] = None,
    snapshot: Annotated[
        bool, typer.Option("--snapshot", help="Record a usage snapshot first (for the trends)")
    ] = False,
    extra: Annotated[
        Optional[list[Path]], typer.Argument(metavar="[REPORT.json]...", help="More JSON reports for --merge")
    ] = None,
) -> None:
    """One document: df totals, top images and layers, what each prune frees, waste, trends (--merge: a fleet's)."""
    from bilge.store.errors import InvalidInput

    from .document import FORMATS, collect, render, write
    from .document import merge as combine

    if format not in FORMATS:
        raise InvalidInput(f"unknown report format {format!r} (choose from {', '.join(FORMATS)})")
    if output is None and format == "html" and sys.stdout.isatty():
        raise InvalidInput("an HTML report is megabytes of page: write it with -o FILE (or pick --format md)")
    if merge or extra:
        doc = combine([*(merge or []), *(extra or [])])
    else:
        store = open_store()
        if snapshot:
            from bilge.gc.snapshots import record_snapshot

            record_snapshot(store, "report")
        doc = collect(store)
    if output is None:
        out(render(doc, format).rstrip("\n"))
    else:
        write(doc, output.absolute(), format)
        err(f"wrote {output}")


def metrics(
    output: Annotated[
        Optional[Path],
        typer.Option(
            "--output", "-o", metavar="FILE", help="Write to FILE atomically (for node_exporter's textfile collector)"
        ),
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


def trends(
    since: Annotated[
        Optional[str], typer.Option("--since", help="Only snapshots since DURATION ago (e.g. 30d) or TIMESTAMP")
    ] = None,
    format: FormatOpt = "table",
) -> None:
    """Usage over time: each snapshot (every prune records one) with growth since the one before and what prunes freed."""
    from bilge.gc.snapshots import load_snapshots
    from bilge.gc.units import parse_until

    from .trends import render_trends

    check_format(format)
    start = parse_until(since) if since else None
    out(render_trends(load_snapshots(open_store(), start), format))


def register(app: typer.Typer, system_app: typer.Typer) -> None:
    system_app.command("df")(system_df)
    app.command("df", help="Alias of `system df`.")(system_df)
    app.command()(top)
    app.command()(explain)
    app.command()(waste)
    app.command()(report)
    app.command()(metrics)
    app.command()(trends)
