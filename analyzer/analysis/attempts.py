"""Phase attempts of one env and window, fetched as numpy arrays cut into groups by
(phase, operation, vpc_state): the input of `recommend` (and of anything else that estimates)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analyzer.engine import Engine
from analyzer.errors import NoDataError
from analyzer.lake.store import check_env_name
from analyzer.timewindow import parse_instant, plausible_time_params, window_start

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class AttemptGroup:
    """The attempts of one phase, operation and VPC state (in no particular order)."""

    phase: int
    operation: str
    vpc_state: str
    started_s: Floats  # epoch seconds
    ended_s: Floats
    duration_s: Floats
    observed: NDArray[np.bool_]  # completed: the duration is exact; else right-censored
    timeout_s: Floats  # NaN where no timeout was logged

    @property
    def size(self) -> int:
        return int(self.duration_s.size)

    def current_timeout_s(self) -> float | None:
        """The timeout in force for the latest attempt that logged one."""
        known = ~np.isnan(self.timeout_s)
        if not known.any():
            return None
        latest = np.argmax(np.where(known, self.started_s, -np.inf))
        return float(self.timeout_s[latest])


def _floats(column: Any) -> Floats:
    return np.asarray(np.ma.filled(np.ma.asarray(column, dtype=np.float64), np.nan))


def resolve_window(
    engine: Engine, env: str, *, since: str, until: str | None
) -> tuple[datetime, datetime]:
    """[start, end): ending at `until`, else just after the env's last event."""
    check_env_name(env)
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


def load_attempt_groups(
    engine: Engine, env: str, *, since: str, until: str | None
) -> tuple[datetime, datetime, list[AttemptGroup]]:
    """The window (see `resolve_window`) and its attempts, grouped."""
    start, end = resolve_window(engine, env, since=since, until=until)
    keys, columns = engine.attempt_columns({"env": env, "start": start, "end": end})
    if not keys:
        raise no_attempts_error(engine, env, start, end)
    # Rows grouped by group number and, within a group, in one fixed order (by start, then every
    # other column): engines return rows in no particular order, and the order moves the last
    # bits of the estimates' floating-point sums, so the same attempts always give the same bytes.
    started, ended = _floats(columns["started_s"]), _floats(columns["ended_s"])
    duration, timeout = _floats(columns["duration_s"]), _floats(columns["timeout_s"])
    observed = np.asarray(columns["observed"], dtype=bool)
    gid = np.asarray(columns["gid"], dtype=np.int32)
    order = np.lexsort((timeout, observed, ended, duration, started, gid))
    started, ended, duration = started[order], ended[order], duration[order]
    timeout, observed = timeout[order], observed[order]
    groups, at = [], 0
    for _, phase, operation, vpc_state, attempts in keys:
        n = int(attempts)
        part = slice(at, at + n)
        groups.append(
            AttemptGroup(
                phase=int(phase),
                operation=str(operation),
                vpc_state=str(vpc_state),
                started_s=started[part],
                ended_s=ended[part],
                duration_s=duration[part],
                observed=observed[part],
                timeout_s=timeout[part],
            )
        )
        at += n
    return start, end, groups
