"""One scheduled prune, as cron or a systemd timer starts it: take the run lock, apply the
policy through the collector's own prune (plan, re-plan in the write transaction, sweep,
record), leave a line in the run log, and say what happened in one line.

Exit codes: 0 the run completed; 1 it failed (the store, the sweep); 2 the policy is missing or
has problems, or another run holds the lock. Nothing here reads the caller's shell: the store
root and the policy come as absolute paths (baked into the installed entry), and the time zone
and locale play no part in what is pruned.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bilge.store.errors import BilgeError

from . import runlog
from .lock import LockHeld, run_lock
from .runlog import RunRecord

if TYPE_CHECKING:
    from bilge.store.core import Store

    from .policy import Output

EXIT_OK, EXIT_FAILED = 0, 1  # 2, a policy problem or a held lock, is PolicyError's and LockHeld's own


def run(root: Path, policy_path: Path) -> int:
    """Run once and announce the result; returns the exit code."""
    try:
        with run_lock(root):
            record = _run_locked(root, policy_path)
    except LockHeld as exc:
        announce(f"bilge cron run: skipped: {exc}", ok=False)
        return exc.exit_code
    announce(summary(record), ok=record.exit_code == EXIT_OK)
    return record.exit_code


def _run_locked(root: Path, policy_path: Path) -> RunRecord:
    from bilge.gc.prune import execute
    from bilge.store.core import Store

    from .policy import load

    record = RunRecord(started=time.time(), finished=0.0, exit_code=EXIT_OK, policy=str(policy_path))
    try:
        policy = load(policy_path)
        store = Store(root, freeing=True, create=False)  # the disk may be full; a typo'd root is no store
        outcome = execute(store, policy.request(record.started))
        store.keep_reserve()
        record.plan = outcome.plan
        record.freed_bytes, record.freed_disk, record.gc_run = outcome.freed_bytes, outcome.freed_disk, outcome.run_id
        refresh(store, policy.output)
    except BilgeError as exc:
        record.exit_code, record.error = exc.exit_code, str(exc)
    except Exception as exc:  # unattended: whatever went wrong belongs in the log, not only in a lost traceback
        record.exit_code, record.error = EXIT_FAILED, f"{type(exc).__name__}: {exc}"
    record.finished = time.time()
    runlog.append(root, record)
    return record


def refresh(store: Store, output: Output) -> None:
    """What monitoring reads after a scheduled run: a usage snapshot marked "cron" (freed 0: the
    prune's own snapshot, taken in its transaction, carries what it freed), then the metrics
    file and the report, each written atomically by the reports' own writers."""
    from bilge.gc.snapshots import record_snapshot
    from bilge.store.db import write

    with write(store.db):
        record_snapshot(store, "cron")
    if output.metrics is not None:
        from bilge.reports.metrics import write_metrics

        write_metrics(store, output.metrics)
    if output.report is not None:
        from bilge.reports.document import write_report

        write_report(store, output.report, output.report_format)


def summary(record: RunRecord) -> str:
    from bilge.store.tables import human_size

    took = f"in {record.finished - record.started:.1f} s (policy {record.policy})"
    if record.exit_code != EXIT_OK:
        return f"bilge cron run: failed (exit {record.exit_code}): {record.error} {took}"
    freed = f"freed {human_size(record.freed_bytes, 4)} ({record.freed_bytes} bytes)"
    return f"bilge cron run: ok: pruned {record.pruned()}; {freed} {took}"


def announce(line: str, ok: bool) -> None:
    """The line to stdout (stderr when the run failed, so cron mails it), and to syslog where
    a syslog daemon listens."""
    import sys

    (sys.stdout if ok else sys.stderr).write(line + "\n")
    if os.path.exists("/dev/log"):
        import syslog

        syslog.openlog("bilge", syslog.LOG_PID, syslog.LOG_CRON)
        syslog.syslog(syslog.LOG_INFO if ok else syslog.LOG_ERR, line)
        syslog.closelog()
