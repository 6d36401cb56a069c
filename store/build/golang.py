"""Go's formats where Docker's output shows them: what a Go program would print or refuse, byte
for byte, because history entries and error messages are compared with Docker's."""

from __future__ import annotations

import json
from collections.abc import Sequence

_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_MAX = 1 << 63
_ESCAPES = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}


def quote_list(items: Sequence[str]) -> str:
    """`%q` of a []string: `["a" "b"]`, each element as strconv.Quote writes it."""
    return "[" + " ".join(json.dumps(item, ensure_ascii=False) for item in items) + "]"


def _quote(text: str) -> str:
    """The time package's quote: double quotes, `"` and `\\` escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_duration(text: str) -> int:
    """time.ParseDuration, in nanoseconds: `1h30m`, `1.5s`, `-2ms`, `0`. ValueError with Go's
    message for what it refuses."""
    invalid = ValueError("time: invalid duration " + _quote(text))
    rest, negative = text, False
    if rest[:1] in ("-", "+"):
        negative, rest = rest[0] == "-", rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise invalid
    total = 0
    while rest:
        if not (rest[0] == "." or rest[0].isascii() and rest[0].isdigit()):
            raise invalid
        end = 0
        while end < len(rest) and rest[end].isascii() and rest[end].isdigit():
            end += 1
        whole, rest = rest[:end], rest[end:]
        fraction = ""
        if rest[:1] == ".":
            end = 1
            while end < len(rest) and rest[end].isascii() and rest[end].isdigit():
                end += 1
            fraction, rest = rest[1:end], rest[end:]
            if not whole and not fraction:
                raise invalid  # "." with no digits either side
        end = 0
        while end < len(rest) and not (rest[end] == "." or rest[end].isascii() and rest[end].isdigit()):
            end += 1
        if end == 0:
            raise ValueError("time: missing unit in duration " + _quote(text))
        unit_name, rest = rest[:end], rest[end:]
        if unit_name not in _UNITS:
            raise ValueError(f"time: unknown unit {_quote(unit_name)} in duration {_quote(text)}")
        unit = _UNITS[unit_name]
        value = int(whole or "0")
        if value > _MAX // unit:
            raise invalid
        value *= unit
        if fraction.strip("0"):
            digits = fraction[:19]  # Go stops adding digits once the fraction would overflow
            value += int(int(digits) * (unit / 10 ** len(digits)))
            if value > _MAX:
                raise invalid
        total += value
        if total > _MAX:
            raise invalid
    if negative:
        return -total
    if total > _MAX - 1:
        raise invalid
    return total


def _fraction(value: int, precision: int) -> str:
    """fmtFrac and fmtInt: value / 10**precision with the fraction's trailing zeros (and a bare
    point) left out."""
    whole, part = divmod(value, 10**precision)
    digits = f"{part:0{precision}d}".rstrip("0") if precision else ""
    return f"{whole}.{digits}" if digits else str(whole)


def duration_string(ns: int) -> str:
    """time.Duration.String: `1h1m1.5s`, `500ms`, `1.5µs`, `0s`."""
    if ns == 0:
        return "0s"
    sign, value = ("-" if ns < 0 else ""), abs(ns)
    if value < 10**9:
        unit, precision = ("ns", 0) if value < 10**3 else ("µs", 3) if value < 10**6 else ("ms", 6)
        return sign + _fraction(value, precision) + unit
    seconds, part = divmod(value, 10**9)
    text = _fraction(seconds % 60 * 10**9 + part, 9) + "s"
    minutes = seconds // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        if minutes // 60:
            text = f"{minutes // 60}h{text}"
    return sign + text


def quote_rune(value: int) -> str:
    """`%q` of an int as a rune (strconv.QuoteRune): `'a'`, `'\\x03'`, `'\\n'`, `'\\''`."""
    if not 0 <= value <= 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        value = 0xFFFD
    char = chr(value)
    if char in ("'", "\\"):
        return f"'\\{char}'"
    if char.isprintable():  # Go's IsPrint: letters, marks, numbers, punctuation, symbols, ASCII space
        return f"'{char}'"
    if value in _ESCAPES:
        return f"'{_ESCAPES[value]}'"
    if value < 0x20 or value == 0x7F:
        return f"'\\x{value:02x}'"
    return f"'\\u{value:04x}'" if value < 0x10000 else f"'\\U{value:08x}'"


def parse_int32(text: str) -> int:
    """strconv.ParseInt(text, 10, 32), with its messages."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits or not all(c.isascii() and c.isdigit() for c in digits):
        raise ValueError(f"strconv.ParseInt: parsing {json.dumps(text, ensure_ascii=False)}: invalid syntax")
    value = int(text)
    if not -(1 << 31) <= value < 1 << 31:
        raise ValueError(f"strconv.ParseInt: parsing {json.dumps(text, ensure_ascii=False)}: value out of range")
    return value
