"""`bilge cron`: run, install, remove, show, check-policy. Only typer at module level."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from bilge.store.session import err, out, settings

if TYPE_CHECKING:
    from .runlog import RunRecord

cron_app = typer.Typer(
    rich_markup_mode=None,
    no_args_is_help=True,
    help="Scheduled prune: a policy file applied from cron or a systemd timer, one run at a time, each recorded",
)

PolicyOpt = Annotated[
    Optional[Path], typer.Option("--policy", help="The policy file (default: /etc/bilge/policy.toml)")
]
SystemOpt = Annotated[
    bool, typer.Option("--system", help="/etc/cron.d/bilge, or systemd's own units where systemd runs")
]
SystemdDirOpt = Annotated[
    Optional[Path],
    typer.Option("--systemd-dir", help="bilge-prune.service and .timer in DIR (install writes them, not enabled)"),
]
_TIME = "%Y-%m-%d %H:%M:%S %Z"


def _root() -> Path:
    from bilge.store.paths import default_root

    return Path(settings().root or default_root()).absolute()


def _policy(path: Path | None) -> Path:
    from .policy import DEFAULT_POLICY

    return (path or DEFAULT_POLICY).absolute()


def run(policy: PolicyOpt = None) -> None:
    """Apply the policy once, as cron calls it: exit 0 done, 1 failed, 2 policy problem or another run holds the lock."""
    from .runner import run as run_once

    code = run_once(_root(), _policy(policy))
    if code:
        raise typer.Exit(code)


def install(
    schedule: Annotated[
        str, typer.Option("--schedule", help="Five cron fields or @hourly/@daily/@weekly/@monthly/@yearly")
    ] = "17 3 * * *",
    policy: PolicyOpt = None,
    system: SystemOpt = False,
    systemd_dir: SystemdDirOpt = None,
) -> None:
    """Install the schedule (again: it replaces ours): the user's crontab unless --system or --systemd-dir."""
    from .install import run_command, target
    from .policy import load
    from .schedule import validate

    expr = validate(schedule)
    policy_path = _policy(policy)
    load(policy_path)  # a policy with problems is refused now, not at three in the morning
    where = target(system, systemd_dir).install(expr, run_command(_root(), policy_path))
    out(f"installed in {where}: {expr} bilge cron run --policy {policy_path}")


def remove(system: SystemOpt = False, systemd_dir: SystemdDirOpt = None) -> None:
    """Remove our entry (only ours: the crontab's other lines stay)."""
    from .install import target

    place = target(system, systemd_dir)
    out(f"removed from {place.where}" if place.remove() else f"no bilge entry in {place.where}")


def show(system: SystemOpt = False, systemd_dir: SystemdDirOpt = None) -> None:
    """The installed entry, its next three run times and the last run's result."""
    from datetime import datetime

    from . import runlog
    from .install import target
    from .schedule import next_runs

    place = target(system, systemd_dir)
    found = place.installed()
    if found is None:
        out(f"no bilge entry in {place.where}")
    else:
        out(f"entry:     {found.line}")
        out(f"in:        {found.where}")
        out(f"schedule:  {found.schedule}")
        for i, when in enumerate(next_runs(found.schedule, datetime.now().astimezone())):
            out(f"{'next runs:' if i == 0 else '':<11}{when.strftime(_TIME)}")
    last = runlog.last(found.root if found and found.root else _root())
    out(_describe(last) if last else "last run:  none recorded")


def _describe(record: RunRecord) -> str:
    from datetime import datetime

    from bilge.store.tables import human_size

    started = datetime.fromtimestamp(record.started).astimezone().strftime(_TIME)
    lines = [
        f"last run:  {started} ({record.finished - record.started:.1f} s), exit {record.exit_code}",
        f"  pruned:  {record.pruned()}",
        f"  freed:   {human_size(record.freed_bytes, 4)} ({record.freed_bytes} bytes; {record.freed_disk} on disk)",
    ]
    if record.plan.untagged:
        lines.insert(2, f"  untagged: {', '.join(record.plan.untagged)}")
    if record.error:
        lines.append(f"  error:   {record.error}")
    return "\n".join(lines)


def check_policy(file: Annotated[Path, typer.Argument(help="The policy file to check")]) -> None:
    """Check a policy file: every unknown key and bad value, named with its line (exit 2 if any)."""
    from .policy import PolicyError, load

    try:
        policy = load(file)
    except PolicyError as exc:
        for problem in exc.problems:
            err(problem)
        raise typer.Exit(2) from None
    out(f"{file}: ok: prunes {policy.describe()}")


def register(app: typer.Typer) -> None:
    app.add_typer(cron_app, name="cron")
    cron_app.command("run")(run)
    cron_app.command("install")(install)
    cron_app.command("remove")(remove)
    cron_app.command("show")(show)
    cron_app.command("check-policy")(check_policy)
