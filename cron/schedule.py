"""Schedules as cron reads them (five fields, or @hourly and its kin), their next run times, and
the same schedule as systemd's OnCalendar.

croniter computes the times; what is ours is the narrower grammar: the cron daemon accepts five
fields, where croniter would also take a sixth (seconds) that cron would misread, and @reboot is
no schedule for a prune.
"""

from __future__ import annotations

from datetime import datetime

from bilge.store.errors import InvalidInput

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")


def validate(expr: str) -> str:
    """The expression as it goes into a crontab (whitespace collapsed), or InvalidInput saying why not."""
    from croniter import croniter

    text = " ".join(expr.split())
    fields = _five(text)
    if len(fields.split()) != 5 or not croniter.is_valid(fields):
        raise InvalidInput(
            f"invalid schedule {expr!r}: cron takes five fields, minute hour day-of-month month day-of-week"
            " (e.g. '17 3 * * *'), or @hourly, @daily, @weekly, @monthly, @yearly"
        )
    return text


def _five(text: str) -> str:
    return MACROS.get(text.lower(), text)


def next_runs(expr: str, after: datetime, count: int = 3) -> list[datetime]:
    """The next `count` times after `after` (an aware datetime) at which cron starts the entry,
    in `after`'s time zone, as the daemon runs on local time."""
    from croniter import croniter

    times = croniter(_five(validate(expr)), after)
    return [times.get_next(datetime) for _ in range(count)]


def on_calendar(expr: str) -> list[str]:
    """systemd OnCalendar values that fire when cron would.

    Each field is written out as the list of values cron expands it to, which systemd reads
    unambiguously. cron runs an entry whose day-of-month and day-of-week are both restricted
    when either matches, systemd only when both do: that schedule becomes two values.
    """
    from croniter import croniter

    minute, hour, dom, month, dow = croniter(_five(validate(expr))).expanded

    def listed(values: list) -> str:
        return "*" if values == ["*"] else ",".join(f"{v:02d}" for v in values)

    time_part = f"{listed(hour)}:{listed(minute)}:00"
    days = "" if dow == ["*"] else ",".join(_DAYS[int(d) % 7] for d in dow) + " "
    if dom != ["*"] and days:
        return [f"*-{listed(month)}-{listed(dom)} {time_part}", f"{days}*-{listed(month)}-* {time_part}"]
    return [f"{days}*-{listed(month)}-{listed(dom)} {time_part}"]
