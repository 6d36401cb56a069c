"""Docker-style human units and the four output formats every listing command offers."""

from __future__ import annotations

import json
import time
from bisect import bisect_left
from collections.abc import Sequence
from itertools import repeat
from typing import Any

FORMATS = ("table", "json", "csv", "md")
_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision: decimal units, `precision` significant digits."""
    i = 0
    while size >= 1000 and i < len(_DECIMAL) - 1:
        size /= 1000.0
        i += 1
    return "%.*g%s" % (precision, size, _DECIMAL[i])  # noqa: UP031 - half the time of the f-string, per cell


def human_duration(seconds: float) -> str:
    """go-units HumanDuration, as `docker images` prints CREATED."""
    if seconds < 1:
        return "Less than a second"
    if int(seconds) == 1:
        return "1 second"
    if seconds < 60:
        return f"{int(seconds)} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600 / 24 / 365)} years"


def ago(timestamp: float | None, now: float | None = None) -> str:
    """`now` once for a whole column: time.time() per cell is a tenth of a 100,000-row table."""
    if timestamp is None:
        return "N/A"
    return human_duration(max(0.0, (now or time.time()) - timestamp)) + " ago"


def ago_column(timestamps: list[float | None]) -> list[str]:
    """`ago` for a whole column, with one clock read and a few hundred wordings at most.

    Each wording ("3 days ago") covers one interval of age, and the intervals come in order
    of age (go-units' thresholds, see human_duration). So the distinct times, oldest first,
    fall into runs of one wording each: each run's end is found by bisecting with `ago`
    itself, and every time in it is worded at once. 100,000 distinct times (a store of
    generated or long-lived images) take a few thousand `ago` calls instead of 100,000,
    and every wording is exactly the one `ago` gives.
    """
    now = time.time()
    times = sorted({t for t in timestamps if t is not None})
    worded: dict[float | None, str] = {None: "N/A"}
    start = 0
    while start < len(times):
        word = ago(times[start], now)
        end = bisect_left(times, True, lo=start, key=lambda t: ago(t, now) != word)  # the run's end
        worded.update(dict.fromkeys(times[start:end], word))
        start = end
    return list(map(worded.__getitem__, timestamps))


def size_column(sizes: list[int], precision: int = 3) -> list[str]:
    """`human_size` for a whole column, each distinct size worded once (layers repeat)."""
    worded: dict[int, str] = {}
    return [worded.get(s) or worded.setdefault(s, human_size(s, precision)) for s in sizes]


def _cell(value: Any) -> Any:
    """A CSV cell (README, "Machine-readable output"): a list as its items joined by commas,
    a mapping as key=value pairs (as `docker ps` shows labels), booleans as true/false,
    nothing as an empty cell; never JSON inside a cell."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return ",".join(f"{k}={_cell(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ",".join(str(_cell(v)) for v in value)
    return "" if value is None else value


def render(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    fmt: str,
    data: Sequence[dict[str, Any]] | None = None,
) -> str:
    """`columns` are (key, HEADER) for table and md; json and csv carry `data` (exact values, the
    API's field names) when given, else the rows."""
    if fmt == "json":
        return json.dumps(list(data if data is not None else rows), indent=2)
    if fmt == "csv":
        import csv
        import io

        out = io.StringIO()
        keys = list(data[0]) if data else [key for key, _ in columns]
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(keys)
        for row in data if data is not None else rows:
            writer.writerow([_cell(row.get(key, "")) for key in keys])
        return out.getvalue().rstrip("\n")
    texts = [_texts([row.get(key) for row in rows]) for key, _ in columns]
    return render_columns(texts, [header for _, header in columns], fmt)


def render_columns(texts: list[list[str]], headers: list[str], fmt: str) -> str:
    """A table or md table of text cells given column by column: what a listing of 100,000 rows
    builds directly, without a dict per row."""
    if fmt == "table" and not any("\n" in "".join(column) for column in texts):
        return plain(texts, headers)
    from tabulate import tabulate

    table = [list(line) for line in zip(*texts)]
    return tabulate(table, headers, tablefmt="github" if fmt == "md" else "plain", disable_numparse=True)


def _texts(values: list[Any]) -> list[str]:
    """A column as tabulate prints it: text as it is, None as empty, anything else by str."""
    if all(type(v) is str for v in values):
        return values
    return ["" if v is None else str(v) for v in values]


def plain(columns: list[list[str]], headers: list[str]) -> str:
    """tabulate's "plain" layout of one-line text cells (given column by column), at the cost
    of a `len` per cell.

    tabulate guesses each cell's type even with number parsing off (about 12 µs a cell: most of
    `system df -v` at 10,000 images). Every cell here is already text, so only the layout is
    left: left-aligned, stripped, columns at least their header plus two wide, two spaces
    between, trailing space dropped. tests/unit checks it against tabulate itself.
    """
    stripped = [list(map(str.strip, column)) for column in columns]
    widths = [max(len(h) + 2, max(map(len, column), default=0)) for h, column in zip(headers, stripped)]
    padded = [list(map(str.ljust, [h, *column], repeat(w))) for h, column, w in zip(headers, stripped, widths)]
    return "\n".join(map(str.rstrip, map("  ".join, zip(*padded))))
