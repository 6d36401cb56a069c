"""The policy file a scheduled prune follows (TOML; policy.example.toml beside this module shows
every key), checked whole before anything is pruned, and turned into the same Request the prune
commands build.

tomllib gives values without their places, and a problem a person must fix is worth its line
number, so each problem's key is found again in the text (the first line that assigns it in its
table: plain enough for a hand-written policy).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bilge.store.errors import BilgeError, InvalidInput

if TYPE_CHECKING:
    from bilge.gc.policy import ImagePolicy
    from bilge.gc.prune import Request

DEFAULT_POLICY = Path("/etc/bilge/policy.toml")
IMAGE_CHOICES = ("dangling", "unused", "none")


class PolicyError(BilgeError):
    """The policy cannot be read or has problems; each problem is one `FILE:LINE: key: what` line."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        more = f" (and {len(problems) - 1} more: see bilge cron check-policy)" if len(problems) > 1 else ""
        super().__init__(problems[0] + more)
        self.problems = problems


@dataclass(frozen=True)
class Output:
    """Where a run leaves its report and metrics (None: not written)."""

    report: Path | None = None
    report_format: str = "html"
    metrics: Path | None = None


@dataclass(frozen=True)
class Policy:
    """A checked policy: the image policy the collector applies (None: no images), with durations,
    sizes and percentages parsed; the filters stay text so that `until=` is measured from each
    run's own clock."""

    source: Path
    containers: bool = False
    build_cache: bool = False
    images: ImagePolicy | None = None
    filters: list[str] = field(default_factory=list)  # filter, plus exclude's labels as label!=
    output: Output = Output()

    def request(self, now: float) -> Request:
        from dataclasses import replace

        from bilge.gc.policy import Filters
        from bilge.gc.prune import system_request

        filters = Filters.parse(self.filters, now)
        images = replace(self.images, filters=filters) if self.images else None
        return system_request("cron run", filters, images, containers=self.containers, cache=self.build_cache)

    def describe(self) -> str:
        """What the policy prunes, in a few words for the run's summary."""
        kinds = [k for k, on in (("containers", self.containers), ("build cache", self.build_cache)) if on]
        if self.images:
            kinds.insert(1 if self.containers else 0, "unused images" if self.images.all else "dangling images")
        return ", ".join(kinds) or "nothing"


def load(path: Path) -> Policy:
    """The policy at `path`, or PolicyError listing every problem with its line."""
    import tomllib

    try:
        text = path.read_text()
    except FileNotFoundError:
        example = Path(__file__).parent / "policy.example.toml"
        raise PolicyError([f"{path}: no policy there (give --policy FILE, or start from {example})"]) from None
    except OSError as exc:
        raise PolicyError([f"{path}: cannot read the policy: {exc.strerror or exc}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError([f"{path}: not valid TOML: {exc}"]) from None
    return _Checker(path, text).policy(data)


def _duration(value: Any) -> float:
    from bilge.gc.units import parse_duration

    return parse_duration(_text(value, 'a duration such as "7d"'))


def _size(value: Any) -> int:
    from bilge.gc.units import parse_size

    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return parse_size(_text(value, 'a size such as "20GB"'))


def _percent(value: Any) -> float:
    from bilge.gc.units import parse_percent

    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    return parse_percent(_text(value, "a percentage 0-100"))


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput(f"{value!r} is not a whole number >= 0")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{value!r} is not true or false")
    return value


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise InvalidInput(f"{value!r} is not one of {', '.join(map(repr, choices))}")
        return str(value)

    return check


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidInput(f"{value!r} is not a list of non-empty strings")
    return list(value)


def _filters(value: Any) -> list[str]:
    import time

    from bilge.gc.policy import Filters

    items = _strings(value)
    Filters.parse(items, time.time())
    return items


def _absolute(value: Any) -> Path:
    path = Path(_text(value, "a path"))
    if not path.is_absolute():
        raise InvalidInput(f"{value!r} is not an absolute path (a scheduled run starts in another directory)")
    return path


def _report_format(value: Any) -> str:
    return _one_of(_report_formats())(value)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{value!r} is not {what}")
    return value


SCHEMA: dict[str, dict[str, Callable[[Any], Any]]] = {
    "prune": {
        "containers": _flag,
        "images": _one_of(IMAGE_CHOICES),
        "build_cache": _flag,
        "keep": _count,
        "unused_for": _duration,
        "min_age": _duration,
        "max_size": _size,
        "high": _percent,
        "low": _percent,
        "exclude": _strings,
        "filter": _filters,
    },
    "output": {
        "report": _absolute,
        "report_format": _report_format,
        "metrics": _absolute,
    },
}


class _Checker:
    """Reads a parsed policy against SCHEMA, collecting every problem with its line."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.problems: list[tuple[int, str]] = []

    def policy(self, data: dict[str, Any]) -> Policy:
        values: dict[str, dict[str, Any]] = {}
        for table, entries in data.items():
            if not isinstance(entries, dict):
                self.problem(None, table, "a key outside any table (put it under [prune] or [output])")
                continue
            if table not in SCHEMA:
                self.problem(table, None, f"unknown table{_suggest(table, SCHEMA)} (known: [prune], [output])")
                continue
            values[table] = {}
            for key, value in entries.items():
                if key not in SCHEMA[table]:
                    known = ", ".join(SCHEMA[table])
                    self.problem(table, key, f"unknown key{_suggest(key, SCHEMA[table])} (known: {known})")
                    continue
                try:
                    values[table][key] = SCHEMA[table][key](value)
                except InvalidInput as exc:
                    self.problem(table, key, str(exc))
        prune, output = values.get("prune", {}), values.get("output", {})
        self.watermarks(prune)
        if self.problems:
            raise PolicyError([message for _, message in sorted(self.problems)])
        kinds = {key: prune.pop(key) for key in ("containers", "build_cache") if key in prune}
        filters = prune.pop("filter", []) + [f"label!={label}" for label in _labels(prune.get("exclude", []))]
        return Policy(
            source=self.path,
            filters=filters,
            images=_image_policy(prune),
            output=Output(**{"report_format": _format_of(output.get("report")), **output}),
            **kinds,
        )

    def watermarks(self, prune: dict[str, Any]) -> None:
        high, low = prune.get("high"), prune.get("low")
        if low is not None and high is None:
            self.problem("prune", "low", "low needs high (the watermark at which pruning starts)")
        elif low is not None and high is not None and low >= high:
            self.problem("prune", "low", f"low ({low:g}) must be below high ({high:g})")

    def problem(self, table: str | None, key: str | None, message: str) -> None:
        name = f"{table}.{key}" if table and key else key or f"[{table}]"
        line = self.line_of(table, key)
        self.problems.append((line, f"{self.path}:{line}: {name}: {message}"))

    def line_of(self, table: str | None, key: str | None) -> int:
        """The first line assigning `key` in `[table]` (the table's header for key None; before
        any table for table None), else 1."""
        current = None
        assigns = re.compile(rf"""\s*(["']?){re.escape(key or "")}\1\s*=""")
        for number, line in enumerate(self.lines, 1):
            header = re.match(r"\s*\[\s*([^\[\]]+?)\s*\]", line)
            if header:
                current = header.group(1).strip("\"'")
                if key is None and current == table:
                    return number
            elif key is not None and current == table and assigns.match(line):
                return number
        return 1


def _labels(exclude: list[str]) -> list[str]:
    return [item.removeprefix("label=") for item in exclude if item.startswith("label=")]


def _image_policy(prune: dict[str, Any]) -> ImagePolicy | None:
    """The collector's image policy from [prune]'s checked values (what is left once the
    containers, build cache and filters are taken out: the keys are ImagePolicy's own)."""
    from bilge.gc.policy import ImagePolicy

    kind = prune.pop("images", "dangling")
    exclude = prune.pop("exclude", [])
    if kind == "none":
        return None
    references = [item for item in exclude if not item.startswith("label=")]
    return ImagePolicy(all=kind == "unused", exclude=references, **prune)


def _suggest(word: str, known: dict) -> str:
    import difflib

    close = difflib.get_close_matches(word, known, n=1)
    return f" {word!r} (did you mean {close[0]!r}?)" if close else f" {word!r}"


def _report_formats() -> tuple[str, ...]:
    """The report writer's formats (imported only for a policy that asks for a report: it is large)."""
    from bilge.reports.document import FORMATS

    return FORMATS


def _format_of(report: Path | None) -> str:
    """The report format its file name implies, html when it implies none."""
    if report is None:
        return "html"
    suffix = report.suffix.lstrip(".").lower()
    return suffix if suffix in _report_formats() else "html"
