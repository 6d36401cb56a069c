"""Durations, sizes and `until=` values, as people type them and Docker accepts them."""

from __future__ import annotations

import re
import time

from bilge.store.errors import InvalidInput
from bilge.store.timeutil import parse_rfc3339

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?i?b?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "p": 1000**5,
    "pb": 1000**5,
    "ki": 1024,
    "kib": 1024,
    "mi": 1024**2,
    "mib": 1024**2,
    "gi": 1024**3,
    "gib": 1024**3,
    "ti": 1024**4,
    "tib": 1024**4,
    "pi": 1024**5,
    "pib": 1024**5,
}


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration ("1h30m", "90s"), plus d and w for the policies' sake."""
    body = text.strip()
    if not body or _DURATION_PART.sub("", body):
        raise InvalidInput(f"invalid duration {text!r} (examples: 90s, 30m, 24h, 7d)")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(body))


def parse_size(text: str) -> int:
    """Bytes from "500MB", "2GiB", "1.5g" or a plain number."""
    match = _SIZE.match(text)
    unit = (match.group(2) or "").lower() if match else None
    if not match or unit not in _SIZE_UNITS:
        raise InvalidInput(f"invalid size {text!r} (examples: 500MB, 2GiB, 1000000)")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def parse_until(text: str, now: float | None = None) -> float:
    """Docker's `until=`: a Unix timestamp, an RFC 3339 date, or a duration back from now."""
    now = time.time() if now is None else now
    if re.fullmatch(r"\d+(\.\d+)?", text.strip()):
        return float(text)
    moment = parse_rfc3339(text if "T" in text or ":" in text else text + "T00:00:00Z")
    if moment is not None:
        return moment
    return now - parse_duration(text)


def parse_percent(text: str) -> float:
    value = float(text.rstrip("%")) if re.fullmatch(r"\d+(\.\d+)?%?", text.strip()) else -1
    if not 0 <= value <= 100:
        raise InvalidInput(f"invalid percentage {text!r} (0-100)")
    return value
