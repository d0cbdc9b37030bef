"""`analyze recommend`: phase timeouts per VPC state and breaker settings, from the lake."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np

from analyzer.analysis.attempts import AttemptGroup, load_attempt_groups
from analyzer.analysis.estimate import QUANTILES, DurationEstimate, estimate_durations
from analyzer.engine import Engine
from analyzer.recommend.breaker import advise_breaker
from analyzer.recommend.model import (
    Methods,
    PhaseTimeout,
    Policy,
    Quantiles,
    Recommendation,
)
from analyzer.timewindow import Window

UNKNOWN = "unknown"
DEFAULT_SINCE = "28d"


def attempt_weights(
    started_s: np.ndarray, end: datetime, half_life_days: float | None
) -> np.ndarray:
    """Each attempt's weight: 1, or halving every `half_life_days` of age (as VPA does)."""
    if half_life_days is None:
        return np.ones(started_s.size)
    age_days = (end.timestamp() - started_s) / 86400
    return np.asarray(0.5 ** (age_days / half_life_days), dtype=np.float64)


def recommend(
    *,
    engine: Engine,
    env: str,
    policy: Policy | None = None,
    since: str = DEFAULT_SINCE,
    until: str | None = None,
) -> Recommendation:
    """Timeouts per phase, operation and VPC state, and breaker settings, for `env`."""
    policy = policy or Policy()
    start, end, groups = load_attempt_groups(engine, env, since=since, until=until)
    timeouts: list[PhaseTimeout] = []
    for key in dict.fromkeys((g.phase, g.operation) for g in groups):
        rows = [phase_timeout(g, end, policy) for g in groups if (g.phase, g.operation) == key]
        timeouts.extend(with_unknown_state(rows))
    timeouts.sort(key=lambda t: (t.phase, t.operation, t.vpc_state))
    weeks = (end - start).total_seconds() / (7 * 86400)
    return Recommendation(
        env=env,
        generated_at=datetime.now(UTC),
        window=Window(start=start, end=end),
        policy=policy,
        timeouts=timeouts,
        breaker=advise_breaker(groups, policy=policy, weeks=weeks),
    )


def phase_timeout(group: AttemptGroup, end: datetime, policy: Policy) -> PhaseTimeout:
    """The estimate and the recommended timeout for one group of attempts."""
    estimate = estimate_durations(
        group.duration_s,
        group.observed,
        attempt_weights(group.started_s, end, policy.half_life_days),
        min_attempts=policy.min_attempts,
    )
    found = {key: estimate.quantile(q) for key, q in QUANTILES.items()}
    target, _ = estimate.quantile(policy.target_quantile)
    ci = estimate.quantile_ci(policy.target_quantile, policy.confidence)
    timeout_s, widened = recommended_timeout(target, ci[1], estimate, policy)
    current = group.current_timeout_s()
    return PhaseTimeout(
        phase=group.phase,
        operation=group.operation,
        vpc_state=group.vpc_state,
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
