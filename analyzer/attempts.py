"""Phase attempts of one env and window, fetched as numpy arrays cut into groups by
(phase, operation, vpc_state): the input of `recommend` (and of anything else that estimates)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
from numpy.typing import NDArray

from analyzer.errors import NoDataError
from analyzer.lake import Store, check_env_name, connect, no_data_error, query_rows
from analyzer.queries import load_sql
from analyzer.timewindow import parse_instant, window_start

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class AttemptGroup:
    """The attempts of one phase, operation and VPC state, in start order."""

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
        known = self.timeout_s[~np.isnan(self.timeout_s)]
        return float(known[-1]) if known.size else None


def _floats(column: Any) -> Floats:
    return np.asarray(np.ma.filled(np.ma.asarray(column, dtype=np.float64), np.nan))


def resolve_window(
    con: duckdb.DuckDBPyConnection, store: Store, env: str, *, since: str, until: str | None
) -> tuple[datetime, datetime]:
    """[start, end): ending at `until`, else just after the env's last event."""
    check_env_name(env)
    last_ts = query_rows(con, "env_time_range", {"env": env})[0]["last_ts"]
    if not isinstance(last_ts, datetime):
        raise no_data_error(store, env)
    end = parse_instant(until) if until else last_ts + timedelta(microseconds=1)
    return window_start(since, end), end


def no_attempts_error(store: Store, env: str, start: datetime, end: datetime) -> NoDataError:
    return NoDataError(
        f"no phase attempts for env {env!r} between {start:%Y-%m-%d %H:%M} and "
        f"{end:%Y-%m-%d %H:%M} UTC in store {store.root}; widen --since or import more"
    )


def load_attempt_groups(
    store: Store, env: str, *, since: str, until: str | None
) -> tuple[datetime, datetime, list[AttemptGroup]]:
    """The window (see `resolve_window`) and its attempts, grouped."""
    con = connect(store)
    try:
        start, end = resolve_window(con, store, env, since=since, until=until)
        con.execute(
            "CREATE TEMP TABLE attempts_in_window AS " + load_sql("phase_attempt_durations"),
            {"env": env, "start": start, "end": end},
        )
        keys = query_rows(con, "attempt_groups")
        columns = con.execute(load_sql("attempt_numbers")).fetchnumpy()
    finally:
        con.close()
    if not keys:
        raise no_attempts_error(store, env, start, end)
    started, ended = _floats(columns["started_s"]), _floats(columns["ended_s"])
    duration, timeout = _floats(columns["duration_s"]), _floats(columns["timeout_s"])
    observed = np.asarray(columns["observed"], dtype=bool)
    groups, at = [], 0
    for key in keys:
        n = int(key["attempts"])  # type: ignore[call-overload]
        part = slice(at, at + n)
        groups.append(
            AttemptGroup(
                phase=int(key["phase"]),  # type: ignore[call-overload]
                operation=str(key["operation"]),
                vpc_state=str(key["vpc_state"]),
                started_s=started[part],
                ended_s=ended[part],
                duration_s=duration[part],
                observed=observed[part],
                timeout_s=timeout[part],
            )
        )
        at += n
    return start, end, groups
