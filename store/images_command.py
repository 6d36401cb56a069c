"""`bilge images` (and `image ls`), run by both doors: the typer command (store/cli.py) and the
side door (bilge/direct.py), which reads its flags without typer."""

from .session import check_format, is_template, open_store, out, short_id, templated


def images(
    repository: str | None = None,
    *,
    all: bool = False,
    quiet: bool = False,
    digests: bool = False,
    no_trunc: bool = False,
    filter: list[str] | None = None,
    format: str = "table",
) -> None:
    from .listing import HEADERS, exact_rows, list_images, name_columns, name_rows
    from .tables import render, render_columns

    check_format(format)
    filters = list(filter or []) + ([f"reference={repository}"] if repository else [])
    found = list_images(open_store(), all, filters)
    if quiet:
        out("\n".join(dict.fromkeys(short_id(img.id, no_trunc) for img in found)))
        return
    if format in ("json", "csv"):
        out(render([], [], format, exact_rows(found)))
        return
    if is_template(format):
        templated(format, name_rows(found, lambda i: short_id(i, no_trunc)), HEADERS)
        return
    headers = ["REPOSITORY", "TAG", *(["DIGEST"] if digests else []), "IMAGE ID", "CREATED", "SIZE"]
    out(render_columns(name_columns(found, digests, lambda i: short_id(i, no_trunc)), headers, format))
