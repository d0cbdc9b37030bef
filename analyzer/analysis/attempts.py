"""Phase attempts of one env and window, fetched as numpy arrays cut into groups by
(service, phase, operation, vpc_state), and the env's groups pooled over services: the input of
`recommend` (and of anything else that estimates)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analyzer.analysis.stats.survival import duration_order
from analyzer.analysis.window import no_attempts_error, resolve_window
from analyzer.engine import AUTO_COUNTS_PAST, Engine

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class AttemptGroup:
    """The attempts of one service, phase, operation and VPC state, in one fixed order (see
    `load_attempt_groups`): one row each, or, read as counts, one row per day, duration,
    outcome and timeout in force, with how many attempts it stands for (`counts`)."""

    phase: int
    operation: str
    vpc_state: str
    started_s: Floats  # epoch seconds; of counts, the middle of the row's UTC day
    ended_s: Floats  # of counts, the row's latest end
    duration_s: Floats
    observed: NDArray[np.bool_]  # completed: the duration is exact; else right-censored
    timeout_s: Floats  # NaN where no timeout was logged
    service: str | None = None  # None: every service of the env pooled
    counts: NDArray[np.int64] | None = None  # None: one attempt a row
    last_started_s: Floats | None = None  # of counts: the row's latest start

    @cached_property
    def duration_order(self) -> NDArray[np.intp]:
        """The attempts in the order of their durations (`duration_order`): sorted once for
        every estimator and test of the group."""
        return duration_order(self.duration_s)

    @property
    def key(self) -> tuple[int, str, str]:
        """Phase, operation and VPC state (the service aside)."""
        return self.phase, self.operation, self.vpc_state

    @property
    def size(self) -> int:
        """How many attempts (not rows)."""
        return int(self.duration_s.size if self.counts is None else self.counts.sum())

    def attempts_where(self, rows: NDArray[np.bool_]) -> int:
        """How many attempts the selected rows stand for."""
        return int(rows.sum() if self.counts is None else self.counts[rows].sum())

    def since(self, start_s: float) -> AttemptGroup:
        """The attempts started at or after `start_s` (epoch seconds), in the same order."""
        rows = self.started_s >= start_s
        return replace(
            self,
            started_s=self.started_s[rows],
            ended_s=self.ended_s[rows],
            duration_s=self.duration_s[rows],
            observed=self.observed[rows],
            timeout_s=self.timeout_s[rows],
            counts=None if self.counts is None else self.counts[rows],
            last_started_s=None if self.last_started_s is None else self.last_started_s[rows],
        )

    def current_timeout_s(self) -> float | None:
        """The timeout in force for the latest attempt that logged one."""
        known = ~np.isnan(self.timeout_s)
        if not known.any():
            return None
        started = self.started_s if self.last_started_s is None else self.last_started_s
        latest = np.argmax(np.where(known, started, -np.inf))
        return float(self.timeout_s[latest])


def _floats(column: Any) -> Floats:
    return np.asarray(np.ma.filled(np.ma.asarray(column, dtype=np.float64), np.nan))


def load_attempt_groups(
    engine: Engine, env: str, *, since: str, until: str | None
) -> tuple[datetime, datetime, list[AttemptGroup]]:
    """The window (see `resolve_window`) and its attempts, one group per service, phase,
    operation and VPC state (`pool_services` gives the env's groups over all services)."""
    start, end = resolve_window(engine, env, since=since, until=until)
    params = {"env": env, "start": start, "end": end}
    if reads_counts(engine, params):
        keys, columns = engine.attempt_counts(params)
    else:
        keys, columns = engine.attempt_columns(params)
    if not keys:
        raise no_attempts_error(engine, env, start, end)
    return start, end, _groups(keys, columns)


def reads_counts(engine: Engine, params: dict[str, object]) -> bool:
    """Whether the window's attempts are fetched counted (`auto`: past AUTO_COUNTS_PAST)."""
    if engine.attempt_rows == "auto":
        return engine.attempt_total(params) > AUTO_COUNTS_PAST
    return engine.attempt_rows == "counts"


def _groups(keys: list[tuple[Any, ...]], columns: dict[str, Any]) -> list[AttemptGroup]:
    counted = "counted" in columns
    if counted:  # a row a day, duration, outcome and timeout: weighed at the day's middle
        started = _floats(columns["day_s"]) + 43200.0
        ended, last = _floats(columns["last_ended_s"]), _floats(columns["last_started_s"])
    else:
        started, ended = _floats(columns["started_s"]), _floats(columns["ended_s"])
        last = started
    duration, timeout = _floats(columns["duration_s"]), _floats(columns["timeout_s"])
    observed = np.asarray(columns["observed"], dtype=bool)
    gid = np.asarray(columns["gid"], dtype=np.int32)
    order = _fixed_order(gid, started, ended, duration, observed, timeout)
    started, ended, duration, last = started[order], ended[order], duration[order], last[order]
    timeout, observed, gid = timeout[order], observed[order], gid[order]
    counts = np.asarray(columns["counted"], dtype=np.int64)[order] if counted else None
    groups = []
    bounds = np.searchsorted(gid, [k[0] for k in keys] + [int(gid.max(initial=-1)) + 1])
    for (_, service, phase, operation, vpc_state, _attempts), at, to in zip(
        keys, bounds[:-1], bounds[1:], strict=True
    ):
        part = slice(int(at), int(to))
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
                service=str(service),
                counts=None if counts is None else counts[part],
                last_started_s=None if counts is None else last[part],
            )
        )
    return groups


def _fixed_order(
    gid: NDArray[np.int32],
    started: Floats,
    ended: Floats,
    duration: Floats,
    observed: NDArray[np.bool_],
    timeout: Floats,
) -> NDArray[np.intp]:
    """Rows grouped by group number and, within a group, in one fixed order (by start, then
    every other column): engines return rows in no particular order, and the order moves the
    last bits of the estimates' floating-point sums, so the same attempts always give the same
    bytes. Sorted by group and start first: the other columns only order rows that share both
    (rare where each row is an attempt), so they are sorted within those runs only, as the
    sort by all six columns would order them."""
    order = np.lexsort((started, gid))
    g, s = gid[order], started[order]
    tied = np.zeros(order.size, dtype=bool)
    same = (g[1:] == g[:-1]) & ((s[1:] == s[:-1]) | (np.isnan(s[1:]) & np.isnan(s[:-1])))
    tied[1:] |= same
    tied[:-1] |= same
    if tied.any():
        rows = order[tied]
        run = np.cumsum(np.concatenate(([True], ~same)))[tied]
        order[tied] = rows[
            np.lexsort((timeout[rows], observed[rows], ended[rows], duration[rows], run))
        ]
    return order


def pool_services(groups: list[AttemptGroup]) -> list[AttemptGroup]:
    """The env's groups: each phase, operation and VPC state over every service (service
    None), in key order, their attempts in the one fixed order of `load_attempt_groups`, so
    pooled groups are what grouping without services gives, to the last bit."""
    pooled = []
    for phase, operation, vpc_state in sorted({g.key for g in groups}):
        members = [g for g in groups if g.key == (phase, operation, vpc_state)]
        if len(members) == 1:  # already in that order
            pooled.append(replace(members[0], service=None))
            continue
        started, ended, duration, observed, timeout = (
            np.concatenate([getattr(g, name) for g in members])
            for name in ("started_s", "ended_s", "duration_s", "observed", "timeout_s")
        )
        order = _fixed_order(
            np.zeros(started.size, dtype=np.int32), started, ended, duration, observed, timeout
        )
        counted = members[0].counts is not None  # one engine answer: all counted, or none
        counts, last = (
            (
                np.concatenate([g.counts for g in members if g.counts is not None])[order],
                np.concatenate([g.last_started_s for g in members if g.last_started_s is not None])[
                    order
                ],
            )
            if counted
            else (None, None)
        )
        pooled.append(
            AttemptGroup(
                phase=phase,
                operation=operation,
                vpc_state=vpc_state,
                started_s=started[order],
                ended_s=ended[order],
                duration_s=duration[order],
                observed=observed[order],
                timeout_s=timeout[order],
                counts=counts,
                last_started_s=last,
            )
        )
    return pooled
