"""Schedules: the five-field grammar cron reads, the next run times, and the same schedule as
systemd's OnCalendar (tests/test_cron.py has systemd-analyze confirm the translation)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bilge.cron.schedule import next_runs, on_calendar, validate
from bilge.store.errors import InvalidInput

AT = datetime(2026, 12, 1, 11, 7, 30, tzinfo=UTC)  # a Tuesday


@pytest.mark.parametrize(
    "expr", ["* * * * *", "*/15 2 * * 1-5", "0 3 1,15 * sun", "17 3 * jan,jul 7", "@daily", "@HOURLY"]
)
def test_cron_expressions_are_accepted(expr: str) -> None:
    assert validate(expr) == expr


def test_whitespace_is_collapsed_as_a_crontab_line_would_carry_it() -> None:
    assert validate("  0   3 * *  * ") == "0 3 * * *"


@pytest.mark.parametrize(
    "expr",
    [
        "",
        "* * * *",  # four fields
        "0 * * * * *",  # six: croniter would read seconds, cron a command named '*'
        "60 * * * *",
        "* 24 * * *",
        "* * 32 * *",
        "* * * 13 *",
        "* * * * 8",
        "@reboot",  # no schedule for a prune
        "@fortnightly",
        "every day",
    ],
)
def test_bad_expressions_are_refused_saying_what_cron_takes(expr: str) -> None:
    with pytest.raises(InvalidInput, match="cron takes five fields"):
        validate(expr)


def test_next_runs_every_minute() -> None:
    assert next_runs("* * * * *", AT) == [AT.replace(second=0) + timedelta(minutes=m) for m in (1, 2, 3)]


def test_next_runs_of_weekdays_and_steps() -> None:
    times = next_runs("*/20 9 * * 1-5", AT)
    assert [t.isoformat() for t in times] == [
        "2026-12-02T09:00:00+00:00",
        "2026-12-02T09:20:00+00:00",
        "2026-12-02T09:40:00+00:00",
    ]


def test_day_of_month_or_day_of_week_as_cron_reads_both() -> None:
    """cron runs an entry whose two day fields are both restricted when either matches."""
    times = next_runs("0 3 1,15 * sun", AT)
    assert [t.date().isoformat() for t in times] == ["2026-12-06", "2026-12-13", "2026-12-15"]


def test_next_runs_keep_the_callers_time_zone() -> None:
    east = timezone(timedelta(hours=2))
    first = next_runs("0 3 * * *", AT.astimezone(east))[0]
    assert first.utcoffset() == timedelta(hours=2) and (first.hour, first.day) == (3, 2)


@pytest.mark.parametrize(
    ("expr", "calendar"),
    [
        ("* * * * *", ["*-*-* *:*:00"]),
        ("17 3 * * *", ["*-*-* 03:17:00"]),
        ("*/15 2 * * 1-5", ["Mon,Tue,Wed,Thu,Fri *-*-* 02:00,15,30,45:00"]),
        ("0 0 * jan,jul 7", ["Sun *-01,07-* 00:00:00"]),
        ("0 3 1,15 * sun", ["*-*-01,15 03:00:00", "Sun *-*-* 03:00:00"]),
        ("@weekly", ["Sun *-*-* 00:00:00"]),
    ],
)
def test_on_calendar(expr: str, calendar: list[str]) -> None:
    assert on_calendar(expr) == calendar


def test_on_calendar_refuses_what_cron_would() -> None:
    with pytest.raises(InvalidInput):
        on_calendar("61 * * * *")
