"""Timestamps as Docker writes and accepts them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

_FRACTION = re.compile(r"\.(\d+)")


def parse_rfc3339(text: str | None) -> float | None:
    """RFC 3339 with up to nanoseconds (Go's format); None when absent or unparsable."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)  # the usual case, seconds or microseconds, at C speed
    except ValueError:
        return _parse_go_time(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _parse_go_time(text: str) -> float | None:
    """Go's forms that fromisoformat does not take: nanoseconds, padding."""
    text = text.strip().replace("Z", "+00:00")
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_utc(timestamp: float | None) -> str:
    """`2026-11-29 02:25:32 +0000 UTC`, the CreatedAt that `docker images` prints."""
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def rfc3339_nano(timestamp: float) -> str:
    """Go's RFC3339Nano in UTC, as Docker writes `created` (trailing zeros dropped)."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def rfc3339(timestamp: float | None) -> str | None:
    """Go's RFC3339 in UTC, whole seconds, as `docker history` prints CreatedAt; None unknown."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def with_rfc3339(records: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    """The records with these epoch fields as RFC 3339 (json and csv; README, "Machine-readable
    output"), None left as None."""
    return [{**r, **{k: None if r[k] is None else rfc3339_nano(r[k]) for k in keys}} for r in records]
