"""The window a question reads: [start, end) ending at the env's last event or at `until`, and
the error for a window with no phase attempts. Kept apart from the attempts' arrays so that
commands that need no statistics (`summary`) start without importing numpy."""

from __future__ import annotations

from datetime import datetime, timedelta

from analyzer.engine import Engine
from analyzer.errors import NoDataError
from analyzer.lake.store import check_env_name
from analyzer.timewindow import (
    check_window,
    parse_instant,
    plausible_time_params,
    window_start,
)


def resolve_window(
    engine: Engine, env: str, *, since: str, until: str | None
) -> tuple[datetime, datetime]:
    """[start, end): ending at `until`, else just after the env's last event."""
    check_env_name(env)
    check_window(since, until)
    last_ts = engine.rows("env_time_range", {"env": env, **plausible_time_params()})[0]["last_ts"]
    if not isinstance(last_ts, datetime):
        raise engine.no_data_error(env)
    end = parse_instant(until) if until else last_ts + timedelta(microseconds=1)
    return window_start(since, end), end


def no_attempts_error(engine: Engine, env: str, start: datetime, end: datetime) -> NoDataError:
    return NoDataError(
        f"no phase attempts for env {env!r} between {start:%Y-%m-%d %H:%M} and "
        f"{end:%Y-%m-%d %H:%M} UTC in {engine.where}; widen --since or import more"
    )
