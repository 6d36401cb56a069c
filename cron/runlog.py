"""The run log: one JSON line per scheduled run in <root>/cron/runs.jsonl.

A file beside the database rather than a table in it: a run whose policy is unreadable or
whose store fails to open still leaves its line, and `cron show` reads the last line without
opening the store. Lines are appended whole by one write, under the run lock.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bilge.gc.prune import Plan


@dataclass
class RunRecord:
    """One run: its times and exit code, the plan the collector carried out (what it pruned),
    the bytes that freed, and its row in gc_runs."""

    started: float
    finished: float
    exit_code: int
    policy: str
    plan: Plan = field(default_factory=Plan)
    freed_bytes: int = 0
    freed_disk: int = 0
    gc_run: int | None = None
    error: str | None = None

    def pruned(self) -> str:
        """What the run took, in words."""
        parts = [
            _count(len(self.plan.containers), "container"),
            _count(len(self.plan.images), "image"),
            _count(len(self.plan.cache), "build cache entry", "build cache entries"),
            _count(len(self.plan.layers), "layer"),
        ]
        return ", ".join(parts)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def log_path(root: Path) -> Path:
    return root / "cron" / "runs.jsonl"


def append(root: Path, record: RunRecord) -> None:
    path = log_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(asdict(record), sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def last(root: Path) -> RunRecord | None:
    """The most recent whole record (a line cut short by a crash is passed over)."""
    try:
        lines = log_path(root).read_text().splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        try:
            fields = json.loads(line)
            return RunRecord(**{**fields, "plan": Plan(**fields["plan"])})
        except (ValueError, TypeError, KeyError):
            continue
    return None
