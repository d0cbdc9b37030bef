"""`analyze recommend`: phase timeouts per VPC state and breaker settings, from the lake."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime

import numpy as np

from analyzer.analysis.attempts import AttemptGroup, load_attempt_groups
from analyzer.analysis.estimate import QUANTILES, DurationEstimate, estimate_durations
from analyzer.engine import Engine
from analyzer.recommend.breaker import advise_breaker
from analyzer.recommend.carryover import Key, carry_over
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
    previous: dict[Key, float] | None = None,
    previous_from: str | None = None,
    overrides: dict[str, str] | None = None,
) -> Recommendation:
    """Timeouts per phase, operation and VPC state, and breaker settings, for `env`. A key
    without enough evidence keeps the larger of `previous` (the previous export's values) and
    the runtime's built-in default."""
    policy = policy or Policy()
    start, end, groups = load_attempt_groups(engine, env, since=since, until=until)
    rows = [phase_timeout(g, end, policy) for g in groups]
    timeouts = carry_over(rows, env=env, previous=previous or {}, policy=policy)
    timeouts.sort(key=lambda t: (t.phase, t.operation, t.vpc_state))
    weeks = (end - start).total_seconds() / (7 * 86400)
    return Recommendation(
        run_id=uuid.uuid4().hex[:8],
        env=env,
        generated_at=datetime.now(UTC),
        window=Window(start=start, end=end),
        policy=policy,
        overrides=overrides or {},
        previous_from=previous_from,
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
