"""`analyze recommend`: phase timeouts per VPC state and breaker settings, from the lake."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import cast

import numpy as np
import polars as pl

from analyzer.breaker_advice import advise_breaker
from analyzer.errors import NoDataError
from analyzer.estimate import QUANTILES, DurationEstimate, estimate_durations
from analyzer.lake import Store, check_env_name, connect, query_frame, query_rows
from analyzer.recommendation import (
    Methods,
    PhaseTimeout,
    Policy,
    Quantiles,
    Recommendation,
    Window,
)
from analyzer.summary import no_data_error
from analyzer.timewindow import parse_instant, window_start

UNKNOWN = "unknown"
DEFAULT_SINCE = "28d"


def load_attempts(
    store: Store, env: str, *, since: str = DEFAULT_SINCE, until: str | None = None
) -> tuple[Window, pl.DataFrame]:
    """The window (ending at `until`, else at the env's last event) and its phase attempts."""
    check_env_name(env)
    con = connect(store)
    try:
        span = query_rows(con, "env_time_range", {"env": env})[0]
        last_ts = span["last_ts"]
        if not isinstance(last_ts, datetime):
            raise no_data_error(store, env)
        end = parse_instant(until) if until else last_ts + timedelta(microseconds=1)
        start = window_start(since, end)
        frame = query_frame(
            con, "phase_attempt_durations", {"env": env, "start": start, "end": end}
        )
    finally:
        con.close()
    if frame.is_empty():
        raise NoDataError(
            f"no phase attempts for env {env!r} between {start:%Y-%m-%d %H:%M} and "
            f"{end:%Y-%m-%d %H:%M} UTC in store {store.root}; widen --since or import more"
        )
    return Window(start=start, end=end), frame


def attempt_weights(frame: pl.DataFrame, end: datetime, half_life_days: float | None) -> np.ndarray:
    """Each attempt's weight: 1, or halving every `half_life_days` of age (as VPA does)."""
    if half_life_days is None:
        return np.ones(frame.height)
    age_days = np.array([(end - t).total_seconds() / 86400 for t in frame["started_at"].to_list()])
    return np.asarray(0.5 ** (age_days / half_life_days), dtype=np.float64)


def recommend(
    *,
    store: Store,
    env: str,
    policy: Policy | None = None,
    since: str = DEFAULT_SINCE,
    until: str | None = None,
) -> Recommendation:
    """Timeouts per phase, operation and VPC state, and breaker settings, for `env`."""
    policy = policy or Policy()
    window, frame = load_attempts(store, env, since=since, until=until)
    frame = frame.with_columns(
        pl.Series("weight", attempt_weights(frame, window.end, policy.half_life_days))
    )
    timeouts: list[PhaseTimeout] = []
    for (phase, operation), group in frame.group_by(["phase", "operation"], maintain_order=True):
        rows = [
            phase_timeout(cast(int, phase), str(operation), str(state), part, policy)
            for (state,), part in sorted(
                group.group_by(["vpc_state"]), key=lambda kv: str(kv[0][0])
            )
        ]
        timeouts.extend(with_unknown_state(rows))
    timeouts.sort(key=lambda t: (t.phase, t.operation, t.vpc_state))
    calls = frame.filter(pl.col("phase") == policy.breaker_phase).sort("started_at")
    weeks = (window.end - window.start).total_seconds() / (7 * 86400)
    return Recommendation(
        env=env,
        generated_at=datetime.now(UTC),
        window=window,
        policy=policy,
        timeouts=timeouts,
        breaker=advise_breaker(
            calls if calls.height else frame.sort("started_at"), policy=policy, weeks=weeks
        ),
    )


def phase_timeout(
    phase: int, operation: str, state: str, part: pl.DataFrame, policy: Policy
) -> PhaseTimeout:
    """The estimate and the recommended timeout for one group of attempts."""
    estimate = estimate_durations(
        part["duration_s"].to_numpy().astype(np.float64),
        part["observed"].to_numpy().astype(bool),
        part["weight"].to_numpy().astype(np.float64),
        min_attempts=policy.min_attempts,
    )
    found = {key: estimate.quantile(q) for key, q in QUANTILES.items()}
    target, _ = estimate.quantile(policy.target_quantile)
    ci = estimate.quantile_ci(policy.target_quantile, policy.confidence)
    timeout_s, widened = recommended_timeout(target, ci[1], estimate, policy)
    current = _current_timeout(part)
    return PhaseTimeout(
        phase=phase,
        operation=operation,
        vpc_state=state,
        attempts=estimate.attempts,
        completed=estimate.completed,
        censored=estimate.attempts - estimate.completed,
        quantiles_s=Quantiles(**{k: v for k, (v, _) in found.items()}),
        methods=Methods(**{k: m for k, (_, m) in found.items()}),
        ci_s=ci,
        current_timeout_s=current,
        timeout_s=timeout_s,
        timeout_rate_current=estimate.survival_at(current) if current else None,
        timeout_rate_recommended=estimate.survival_at(timeout_s) if timeout_s else None,
        widened=widened,
    )


def recommended_timeout(
    target_s: float | None, upper_s: float | None, estimate: DurationEstimate, policy: Policy
) -> tuple[float | None, bool]:
    """Target quantile x (1 + margin), from the upper confidence bound when data are few,
    rounded up to the step and clamped to [floor, ceiling]."""
    if target_s is None:
        return None, False
    widened = estimate.effective_attempts < policy.few_attempts and upper_s is not None
    base = max(target_s, upper_s) if widened and upper_s is not None else target_s
    raw = base * (1 + policy.margin)
    rounded = math.ceil(raw / policy.step_s - 1e-9) * policy.step_s
    return float(min(max(rounded, policy.floor_s), policy.ceiling_s)), widened


def _current_timeout(part: pl.DataFrame) -> float | None:
    known = part.filter(pl.col("timeout_s").is_not_null())
    if known.is_empty():
        return None
    return float(known.sort("started_at")["timeout_s"][-1])


def _target_value(row: PhaseTimeout) -> float:
    return max((v for v in row.quantiles_s.model_dump().values() if v is not None), default=0.0)


def with_unknown_state(rows: list[PhaseTimeout]) -> list[PhaseTimeout]:
    """Add (or replace) the `unknown` row: what the runtime uses when it cannot tell the VPC
    state, so the most demanding state that has enough data."""
    ranked = [r for r in rows if r.timeout_s is not None]
    observed = [r for r in rows if r.vpc_state != UNKNOWN]
    if not ranked:
        return rows
    worst = max(ranked, key=lambda r: (r.timeout_s or 0.0, _target_value(r), r.attempts))
    unknown = worst.model_copy(
        update={
            "vpc_state": UNKNOWN,
            "derived_from": None if worst.vpc_state == UNKNOWN else worst.vpc_state,
        }
    )
    return [*observed, unknown]
