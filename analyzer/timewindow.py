"""Time windows from the command line: `7d`, `12h`, `2w`, or an ISO-8601 instant."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from analyzer.errors import AnalyzerError

# Telemetry outside this range is taken for a broken clock, not an event: before 2010 (no
# Cloud Run then), or more than a day after it was received or imported.
EARLIEST_EVENT = datetime(2010, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)


def plausible_time_params() -> dict[str, object]:
    """The bounds above as the parameters of the queries that apply them ($earliest_ts,
    $future_slack)."""
    return {"earliest_ts": EARLIEST_EVENT, "future_slack": FUTURE_SLACK}


_SPAN = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
SPAN_RULE = "a positive number and one unit of s, m, h, d or w (like 90m, 12h, 28d or 2w)"


def parse_span(text: str) -> timedelta:
    """`28d`, `12h`, `2w`, `90m`, `30s` as a timedelta."""
    match = _SPAN.fullmatch(text)
    if not match:
        raise AnalyzerError(f"invalid span {text!r}: use {SPAN_RULE}")
    try:
        span = timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    except OverflowError:
        raise AnalyzerError(
            f"span {text!r} is too long: at most {timedelta.max.days:,} days"
        ) from None
    if span <= timedelta(0):  # `0s` (or under a microsecond): no window, no half-life
        raise AnalyzerError(f"invalid span {text!r}: use {SPAN_RULE}")
    return span


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
    if _SPAN.fullmatch(since):
        span = parse_span(since)
        try:
            return end - span
        except OverflowError:
            raise AnalyzerError(
                f"--since {since!r} reaches back before the year 1: use a shorter span or a date"
            ) from None
    try:
        return parse_instant(since)
    except AnalyzerError:
        raise AnalyzerError(
            f"invalid window start {since!r}: use a span back from the window's end, "
            f"{SPAN_RULE}, or an ISO-8601 time like 2026-11-01T12:00:00Z"
        ) from None


def check_window(since: str, until: str | None) -> None:
    """A window given by two instants must run forward: a reversed one is a usage error, said
    before any work (not "no attempts between 2999 and 2026")."""
    if until is None or _SPAN.fullmatch(since):
        return
    try:
        start, end = parse_instant(since), parse_instant(until)
    except AnalyzerError:
        return  # the window's own parse says what is wrong
    if start >= end:
        raise AnalyzerError(
            f"the window is reversed: --since {since} is not before --until {until}",
            exit_code=2,
        )


@dataclass(frozen=True)
class Window:
    """A time window, [start, end). A plain dataclass, not a pydantic model: `summary` starts
    without importing pydantic, and the models that hold a window validate it all the same."""

    start: datetime
    end: datetime
