"""How the reports' listings look: a rich table with bars on a terminal, store/tables' plain
text when piped (so scripts and `grep` see the same columns as `docker` prints), and the
json, csv and md every listing offers."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from bilge.store.tables import render

BAR_WIDTH = 20


def show(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    fmt: str,
    data: Sequence[dict[str, Any]] | None = None,
    bar: tuple[str, str] | None = None,
    terminal: bool | None = None,
) -> str:
    """The listing as text. `bar` is (key of an exact number in `data`, its header): on a
    terminal a column of bars shows each row's share of the largest."""
    on_terminal = sys.stdout.isatty() if terminal is None else terminal
    if fmt != "table" or not on_terminal:
        return render(rows, columns, fmt, data)
    return _rich(rows, columns, data, bar)


def _rich(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    data: Sequence[dict[str, Any]] | None,
    bar: tuple[str, str] | None,
) -> str:
    from rich.bar import Bar
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for _, header in columns:
        table.add_column(header, no_wrap=True)
    values = [float(d[bar[0]]) for d in data] if bar and data else []
    if bar:
        table.add_column(bar[1], no_wrap=True)
    largest = max(values, default=0.0) or 1.0
    for i, row in enumerate(rows):
        cells: list[Any] = ["" if row.get(key) is None else str(row.get(key)) for key, _ in columns]
        if bar:
            cells.append(Bar(largest, 0, values[i] if i < len(values) else 0, width=BAR_WIDTH, color="cyan"))
        table.add_row(*cells)
    # As wide as the table needs (a narrow terminal wraps it, as it does the plain table).
    console = Console(record=True, force_terminal=True, width=max(160, _width()))
    with console.capture() as captured:
        console.print(table)
    return captured.get().rstrip("\n")


def _width() -> int:
    import shutil

    return shutil.get_terminal_size((120, 24)).columns
