"""Time windows from the command line: `7d`, `12h`, `2w`, or an ISO-8601 instant."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from analyzer.errors import AnalyzerError

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
SPAN_RULE = "a positive number and one unit of s, m, h, d or w (like 90m, 12h, 28d or 2w)"


def parse_span(text: str) -> timedelta:
    """`28d`, `12h`, `2w`, `90m`, `30s` as a timedelta."""
    match = _SPAN.match(text)
    if not match:
        raise AnalyzerError(f"invalid span {text!r}: use {SPAN_RULE}")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def parse_instant(text: str) -> datetime:
    """An ISO-8601 date or time; without a zone it is UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise AnalyzerError(
            f"invalid time {text!r}: use ISO-8601, like 2026-11-01 or 2026-11-01T12:00:00Z"
        ) from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def window_start(since: str, end: datetime) -> datetime:
    """`--since` as a start: a span back from `end`, or an instant."""
    if _SPAN.match(since):
        return end - parse_span(since)
    try:
        return parse_instant(since)
    except AnalyzerError:
        raise AnalyzerError(
            f"invalid window start {since!r}: use a span back from the window's end, "
            f"{SPAN_RULE}, or an ISO-8601 time like 2026-11-01T12:00:00Z"
        ) from None


class Window(BaseModel):
    """A time window, [start, end)."""

    start: datetime
    end: datetime
