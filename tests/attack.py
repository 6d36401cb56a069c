"""What the attack suite (tests/test_attack_*.py) shares: bilge in a forked process that can be
killed at any moment, the one-line-error rule, and the counts each attack prints at the end.

A few hundred SIGKILLs cannot each pay Python's start-up (~150 ms of imports before bilge does
anything): a kill would mostly land in the import. So the test process imports bilge's command
modules once and forks a child per command; the child runs `bilge.entry.main` with its own argv,
environment and standard streams, in a process group of its own, and is a real process that a
SIGKILL stops wherever it is. Nothing in the parent opens a store, so no child inherits an open
database.
"""

from __future__ import annotations

import importlib
import os
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

# Imported before forking, so a child's time is the command's work, not its imports.
WARM = (
    "bilge.cli",
    "bilge.store.cli",
    "bilge.store.core",
    "bilge.store.check",
    "bilge.store.archive.load",
    "bilge.store.archive.save",
    "bilge.store.images",
    "bilge.store.registry.client",
    "bilge.store.containers",
    "bilge.gc",
    "httpx",
)

# Where a finding of `bilge check` comes from. These are what a killed command may leave behind
# and `check --repair` clears (rule 2 holds once it has run); anything else is an inconsistency.
CRASH_DEBRIS = (
    "lapsed lease of a ",
    "work in progress of no live lease: ",
    "layer directory without a row: ",
    "short link without a layer: ",
    "blob nothing refers to: ",
    "container directory without a row: ",
)


def warm() -> None:
    for name in WARM:
        importlib.import_module(name)


@dataclass
class Result:
    returncode: int
    stdout: bytes
    stderr: str


class Child:
    """A bilge command running in a forked process (its own process group), streams to files."""

    def __init__(self, root: Path, args: list[str], stdin: Path | None = None, env: dict | None = None) -> None:
        self._out = tempfile.TemporaryFile()
        self._err = tempfile.TemporaryFile()
        self.started = time.monotonic()
        self.status: int | None = None
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            _child(root, args, stdin, self._out.fileno(), self._err.fileno(), env or {})
        self.pid = pid

    def wait(self, timeout: float = 120) -> Result:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"bilge child {self.pid} ran over {timeout} s")
            time.sleep(0.002)
        return self.result()

    def poll(self) -> int | None:
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
        return self.status

    def kill(self) -> bool:
        """SIGKILL the whole group (a pull's layer workers too, as a unit's stop would); True if
        the command was still running."""
        running = self.poll() is None
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.status is None:
            self.status = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        _wait_group_gone(self.pid)
        return running

    def result(self) -> Result:
        assert self.status is not None
        self._out.seek(0)
        self._err.seek(0)
        return Result(self.status, self._out.read(), self._err.read().decode("utf-8", "replace"))


def _wait_group_gone(pgid: int, timeout: float = 10) -> None:
    """Until no process of the group runs: zombies are done writing (their reaper is init,
    which here may take a second)."""
    deadline = time.monotonic() + timeout
    while _alive_in_group(pgid) and time.monotonic() < deadline:
        time.sleep(0.005)


def _alive_in_group(pgid: int) -> bool:
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_bytes()
        except OSError:
            continue
        state, _ppid, pgrp = stat[stat.rindex(b")") + 2 :].split(b" ", 3)[:3]
        if int(pgrp) == pgid and state not in (b"Z", b"X"):
            return True
    return False


def _child(root: Path, args: list[str], stdin: Path | None, out: int, err: int, env: dict) -> None:
    code = 1
    try:
        os.setpgid(0, 0)
        os.dup2(os.open(stdin or os.devnull, os.O_RDONLY), 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        sys.stdin = os.fdopen(0, "r", closefd=False)
        sys.stdout = os.fdopen(1, "w", closefd=False)
        sys.stderr = os.fdopen(2, "w", closefd=False)
        os.environ["BILGE_ROOT"] = str(root)
        os.environ.update(env)
        sys.argv = ["bilge", *args]
        from bilge.entry import main

        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # a bug of the harness, not of bilge: make it loud
        import traceback

        traceback.print_exc()
        code = 99
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def run(root: Path, *args: str, stdin: Path | None = None, env: dict | None = None) -> Result:
    return Child(root, list(args), stdin, env).wait()


def ok(root: Path, *args: str, stdin: Path | None = None) -> Result:
    result = run(root, *args, stdin=stdin)
    assert result.returncode == 0, f"bilge {' '.join(args)} exited {result.returncode}: {result.stderr}"
    return result


def clean_error(stderr: str) -> str | None:
    """Why `stderr` of a failed command is not one clear line (None: it is)."""
    lines = stderr.splitlines()
    if len(lines) != 1:
        return f"{len(lines)} lines"
    if not lines[0].startswith("Error: ") or len(lines[0]) < len("Error: ") + 8:
        return "not an 'Error: …' line"
    if "internal error" in lines[0] or "Traceback" in lines[0]:
        return "an internal error"
    return None


def assert_clean_error(result: Result) -> None:
    assert result.returncode != 0, f"accepted: {result.stdout[:300]!r}"
    why = clean_error(result.stderr)
    assert why is None, f"{why}: {result.stderr[-2000:]!r}"


def findings(root: Path) -> tuple[list[str], list[str]]:
    """`bilge check`'s findings (one a line on stdout), split into (crash debris, inconsistencies)."""
    result = run(root, "check")
    lines = [line for line in result.stdout.decode().splitlines() if line.strip()]
    if result.returncode == 0:
        assert lines == [], lines
        return [], []
    assert lines, f"check failed with no finding: {result.stderr}"
    debris = [line for line in lines if line.startswith(CRASH_DEBRIS)]
    return debris, [line for line in lines if line not in debris]


# --- the store before and after ------------------------------------------------------------


def listing(root: Path) -> list[str]:
    """Every path under a store root but the database files and the memoized figures (cache/,
    derived from the database by read-only commands, as the database's own files are)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            if not rel.startswith(("bilge.db", "cache")):
                out.append(rel)
    return sorted(out)


def rows(root: Path) -> dict[str, int]:
    con = sqlite3.connect(root / "bilge.db")
    try:
        return {
            t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("images", "layers", "tags", "image_layers", "leases")
        }
    finally:
        con.close()


# --- counts, printed in the terminal summary --------------------------------------------------

COUNTS: dict[str, Counter] = {}


def count(attack: str, key: str, n: int = 1) -> None:
    COUNTS.setdefault(attack, Counter())[key] += n


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not COUNTS:
        return
    terminalreporter.section("attack suite counts")
    for attack, counter in sorted(COUNTS.items()):
        terminalreporter.write_line(f"{attack}: " + ", ".join(f"{k}={v}" for k, v in sorted(counter.items())))
