"""`bilge system df` (and `df`), run by both doors: the typer command (reports/cli.py) and the
side door (bilge/direct.py), which reads its flags without typer."""

from bilge.store.session import check_format, is_template, open_store, out, templated


def system_df(*, verbose: bool = False, disk: bool = False, format: str = "table") -> None:
    from bilge.store.errors import InvalidInput

    from .df import system_df as compute
    from .render_df import DF_HEADERS, render, summary_rows

    check_format(format)
    df = compute(open_store())
    if verbose and is_template(format):
        raise InvalidInput("system df -v takes --format table, json, csv or md; a template only without -v")
    if not verbose and templated(format, summary_rows(df, disk), DF_HEADERS):
        return
    out(render(df, verbose, disk, format))
