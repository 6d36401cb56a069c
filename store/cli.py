"""The store's commands: load, save, tag, images, inspect, history, check.

Only typer is imported at module level; each command imports what it needs, so
`bilge --help` and the commands of other rooms stay fast.
"""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .session import check_format, err, is_template, open_store, out, short_id, templated

FormatOpt = Annotated[
    str, typer.Option("--format", help="table, json, csv, md, or a Docker Go template ('table {{.ID}}\\t{{.Size}}')")
]
FilterOpt = Annotated[Optional[list[str]], typer.Option("--filter", "-f", help="key=value (repeatable)")]


def load(
    input: Annotated[
        Optional[str], typer.Option("--input", "-i", help="Archive or OCI layout directory (default: stdin)")
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Suppress progress and notices (as docker load -q)")
    ] = False,
    platform: Annotated[
        Optional[str], typer.Option("--platform", help="os/arch[/variant] to pick from a multi-platform index")
    ] = None,
) -> None:
    """Load images from a docker save archive or an OCI image layout."""
    from .archive.load_command import load as run

    run(input=input, quiet=quiet, platform=platform)


def save(
    images: Annotated[list[str], typer.Argument(help="Images to save")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to a file instead of stdout")] = None,
) -> None:
    """Save images to a tar archive that docker load (any version) accepts."""
    from .archive.save import save as do_save
    from .errors import InvalidInput

    if output is None and sys.stdout.isatty():
        raise InvalidInput("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    do_save(open_store(), images, output, sys.stdout.buffer)


def tag(
    source: Annotated[str, typer.Argument(help="SOURCE_IMAGE[:TAG]")],
    target: Annotated[str, typer.Argument(help="TARGET_IMAGE[:TAG]")],
) -> None:
    """Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE."""
    from . import reference

    ref = reference.parse(target)
    if ref.digest:
        from .errors import InvalidInput

        raise InvalidInput("refusing to create a tag with a digest reference")
    open_store().images.tag(source, ref)


def images(
    repository: Annotated[Optional[str], typer.Argument(help="Only this REPOSITORY[:TAG]")] = None,
    all: Annotated[
        bool, typer.Option("--all", "-a", help="Show all images (default hides intermediate images)")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only show image IDs")] = False,
    digests: Annotated[bool, typer.Option("--digests", help="Show digests")] = False,
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Don't truncate output")] = False,
    filter: FilterOpt = None,
    format: FormatOpt = "table",
) -> None:
    """List images."""
    from .images_command import images as run

    run(
        repository=repository,
        all=all,
        quiet=quiet,
        digests=digests,
        no_trunc=no_trunc,
        filter=filter or [],
        format=format,
    )


def inspect(
    names: Annotated[list[str], typer.Argument(help="Images or containers to inspect")],
    size: Annotated[bool, typer.Option("--size", "-s", help="Containers: add SizeRw and SizeRootFs")] = False,
    format: Annotated[
        Optional[str], typer.Option("--format", "-f", help="A Go template per object ('{{.Id}}'), as docker inspect")
    ] = None,
) -> None:
    """Show low-level information on images (else containers), as JSON in Docker's shape."""
    import json

    if format is not None and not is_template(format):
        from .errors import InvalidInput

        raise InvalidInput(f"--format takes a Go template such as '{{{{.Id}}}}', not {format!r}")
    template = None
    if format is not None:
        from .gotemplate import Template

        template = Template(format)

    from .containers.views import inspect_named
    from .errors import NotFound
    from .views import inspect_image

    store = open_store()
    found, missing = [], []
    for name in names:
        try:
            found.append(inspect_image(store, store.images.resolve(name)))
        except NotFound:
            try:
                found.append(inspect_named(store, name, size))
            except NotFound:
                missing.append(name)
    if template is not None:
        sys.stdout.write("".join(template.execute(item) + "\n" for item in found))
    else:
        out(json.dumps(found, indent=4))
    if missing:
        raise NotFound(f"No such object: {missing[0]}")


def history(
    image: Annotated[str, typer.Argument(help="Image")],
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Don't truncate output")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only show image IDs")] = False,
    format: FormatOpt = "table",
) -> None:
    """Show the history of an image."""
    from .tables import ago, human_size, render
    from .timeutil import rfc3339
    from .views import history as image_history

    check_format(format)
    store = open_store()
    items = image_history(store, store.images.resolve(image))
    if quiet:
        out("\n".join(short_id(i["Id"], no_trunc) if i["Id"] != "<missing>" else i["Id"] for i in items))
        return
    if format in ("json", "csv"):
        out(render([], [], format, [_exact_history(item, rfc3339) for item in items]))
        return
    rows = []
    for item in items:
        created_by = item["CreatedBy"].replace("\t", " ")
        if not no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        rows.append(
            {
                "ID": item["Id"] if item["Id"] == "<missing>" else short_id(item["Id"], no_trunc),
                "CreatedSince": ago(item["Created"]),
                "CreatedAt": rfc3339(item["Created"]),
                "CreatedBy": created_by,
                "Size": human_size(item["Size"]),
                "Comment": item["Comment"],
            }
        )
    if templated(format, rows, HISTORY_HEADERS):
        return
    columns = [(key, HISTORY_HEADERS[key]) for key in ("ID", "CreatedSince", "CreatedBy", "Size", "Comment")]
    out(render(rows, columns, format))


HISTORY_HEADERS = {
    "ID": "IMAGE",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "CreatedBy": "CREATED BY",
    "Size": "SIZE",
    "Comment": "COMMENT",
}


def _exact_history(item: dict[str, Any], rfc3339: Callable[[float | None], str | None]) -> dict[str, Any]:
    """A history entry for json and csv: `docker history`'s field names, the full ID, exact
    bytes, an RFC 3339 time, and the tags the entry's image carries."""
    return {
        "ID": item["Id"],
        "CreatedAt": rfc3339(item["Created"]),
        "CreatedBy": item["CreatedBy"],
        "Size": item["Size"],
        "Comment": item["Comment"],
        "Tags": item["Tags"],
    }


def check(
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Move orphans to the trash, drop expired leases; with --deep, mark damage for a reload to heal",
        ),
    ] = False,
    deep: Annotated[
        bool,
        typer.Option(
            "--deep", help="Also re-hash every config and layer against its digest, naming the images it breaks"
        ),
    ] = False,
) -> None:
    """Verify that every file in the store has a row and every row has its files."""
    from .check import check as run_check
    from .errors import BilgeError

    report = run_check(open_store(), repair, deep)
    for line in report.repaired:
        err(line)
    for line in report.problems:
        out(line)
    if not report.ok:
        raise BilgeError(
            f"store is inconsistent: {len(report.problems)} problem(s)" + ("" if repair else "; try --repair")
        )
    err("store is consistent")


def register(app: typer.Typer, image_app: typer.Typer) -> None:
    """Docker's top-level verbs, and the same commands under `image` as Docker's management form."""
    for fn in (load, save, tag, images, inspect, history, check):
        app.command()(fn)
    for name, fn in (
        ("load", load),
        ("save", save),
        ("tag", tag),
        ("ls", images),
        ("inspect", inspect),
        ("history", history),
    ):
        image_app.command(name)(fn)
