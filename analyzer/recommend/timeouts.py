"""`analyze recommend`: phase timeouts per VPC state and breaker settings, from the lake."""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from analyzer.analysis.attempts import AttemptGroup, load_attempt_groups, pool_services
from analyzer.analysis.estimate import QUANTILES, DurationEstimate, estimate_durations
from analyzer.analysis.fleet import check_service_count
from analyzer.engine import Engine
from analyzer.recommend.breaker import LakeEvidence, advise_breaker, lake_evidence
from analyzer.recommend.carryover import ServiceKey, carry_over, previous_of
from analyzer.recommend.caveats import collect_warnings, drift_warning, find_drift, row_warnings
from analyzer.recommend.model import Methods, PhaseTimeout, Quantiles, Recommendation
from analyzer.recommend.policy import Policy
from analyzer.recommend.pooling import Pools, borrow, service_spread
from analyzer.runtime.defaults import default_config
from analyzer.runtime.schema import MAX_SERVICES
from analyzer.timewindow import Window

UNKNOWN = "unknown"
DEFAULT_SINCE = "28d"


def attempt_weights(
    started_s: np.ndarray, end: datetime, half_life_days: float | None
) -> np.ndarray:
    """Each attempt's weight: 1, or halving every `half_life_days` of age (as VPA does); of
    attempts read as counts, the age of their day's middle."""
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
    previous: dict[ServiceKey, float] | None = None,
    previous_from: str | None = None,
    overrides: dict[str, str] | None = None,
    services: Sequence[str] = (),
) -> Recommendation:
    """Timeouts per service, phase, operation and VPC state, the env-wide ones over every
    service pooled, and breaker settings, for `env` (see `recommendation_of`). An env of more
    services than a config carries (`check_service_count`) gets rows for the `services` named
    only."""
    start, end, groups = load_attempt_groups(engine, env, since=since, until=until)
    found = {g.service for g in groups if g.service is not None}
    check_service_count(env, len(found), services)
    # The breaker's evidence is asked for while the timeouts are estimated (the engine is
    # not used meanwhile: the estimation reads only the groups).
    with ThreadPoolExecutor(max_workers=1) as asking:
        lake = asking.submit(lake_evidence, engine, env, start, end)
        return recommendation_of(
            groups,
            env=env,
            window=Window(start=start, end=end),
            policy=policy or Policy(),
            previous=previous or {},
            previous_from=previous_from,
            overrides=overrides or {},
            lake=lake.result,
            only=set(services) if len(found) > MAX_SERVICES else None,
        )


def recommendation_of(
    groups: list[AttemptGroup],
    *,
    env: str,
    window: Window,
    policy: Policy,
    previous: dict[ServiceKey, float],
    previous_from: str | None = None,
    overrides: dict[str, str] | None = None,
    lake: LakeEvidence | Callable[[], LakeEvidence] | None = None,
    only: set[str] | None = None,
) -> Recommendation:
    """The recommendation from per-service groups (and `lake`, the breaker's evidence beyond them,
    or what gives it when the breaker is reached: none by default). The env-wide rows (service
    None) come from every service's attempts pooled. Each service's rows are its own where it
    has `policy.min_attempts`; where it has fewer, the env's timeout widened by how much
    services differ (`pooling`), unless its own attempts show it slower than the others; a key
    without evidence keeps the larger of `previous` (the previous run's values, the service's
    own else the env-wide) and the runtime's built-in default. `only`: the services that get
    rows of their own (None: every one); the env-wide rows and the spread still read them all."""
    start, end = window.start, window.end
    pooled = pool_services(groups)
    env_rows, states_read = _own_rows(pooled, start, end, policy)
    env_previous = previous_of(previous, None)
    env_timeouts = carry_over(env_rows, env=env, previous=env_previous, policy=policy)
    timeouts = list(env_timeouts)
    services = sorted({g.service for g in groups if g.service is not None})

    def weights(group: AttemptGroup) -> NDArray[np.float64]:
        return attempt_weights(group.started_s, end, policy.half_life_days)

    spread = service_spread(groups, weights) if len(services) > 1 else {}
    loose = policy.model_copy(update={"min_attempts": 1})

    # each service's groups, and the states of each of its phases and operations: looked up, not
    # searched for, so the cost stays linear in the services
    by_service: dict[str | None, list[AttemptGroup]] = {}
    for g in groups:
        by_service.setdefault(g.service, []).append(g)
    states_of = Counter((g.service, g.phase, g.operation) for g in groups)
    pools = Pools.of(groups, pooled) if len(services) > 1 else Pools({}, {})

    def bound(group: AttemptGroup) -> PhaseTimeout:
        """A sparse group's row from its own attempts, however few."""
        states = states_of[group.service, group.phase, group.operation]
        return phase_timeout(group, end, loose, level=band_level(policy, states))

    for service in services if only is None else [s for s in services if s in only]:
        carried = previous_of(previous, service)
        if len(services) == 1 and carried == env_previous:
            # The env's only service: its attempts are the env's, in the same order.
            timeouts += [t.model_copy(update={"service": service}) for t in env_timeouts]
            continue
        own = by_service[service]
        rows, _ = _own_rows(own, start, end, policy)
        rows = borrow(
            rows,
            own=own,
            pools=pools,
            env_rows=env_timeouts,
            spread=spread,
            carried=carried,
            defaults=default_config(env).timeouts,
            policy=policy,
            bound=bound,
        )
        timeouts += carry_over(rows, env=env, previous=carried, policy=policy, service=service)
    timeouts.sort(
        key=lambda t: (t.service is not None, t.service or "", t.phase, t.operation, t.vpc_state)
    )
    # A one-service env's rows are the env's: its warnings once.
    warned = timeouts if len(services) > 1 else env_timeouts
    return Recommendation(
        run_id=uuid.uuid4().hex[:8],
        env=env,
        generated_at=datetime.now(UTC),
        window=window,
        policy=policy,
        overrides=overrides or {},
        previous_from=previous_from,
        timeouts=timeouts,
        breaker=advise_breaker(
            pooled,
            policy=policy,
            rows=env_timeouts,
            start=start,
            end=end,
            lake=(lake() if callable(lake) else lake)
            or LakeEvidence(timeline=None, summaries=None),
        ),
        warnings=collect_warnings(warned, policy, states_read),
    )


def _own_rows(
    groups: list[AttemptGroup], start: datetime, end: datetime, policy: Policy
) -> tuple[list[PhaseTimeout], int]:
    """Each group's row from its own attempts; and the most states of one phase and
    operation that have a number."""
    rows: list[PhaseTimeout] = []
    states_read = 0
    for key in dict.fromkeys((g.phase, g.operation) for g in groups):
        members = [g for g in groups if (g.phase, g.operation) == key]
        level = band_level(policy, len(members))
        found = [phase_timeout(g, end, policy, start=start, level=level) for g in members]
        states_read = max(states_read, sum(r.timeout_s is not None for r in found))
        rows.extend(found)
    return rows, states_read


def band_level(policy: Policy, states: int) -> float:
    """The confidence level of each state's band: the policy's, or with `joint` the Sidak level
    at which all `states` (disjoint attempts, so independent) hold together at the policy's."""
    if policy.joint and states > 1:
        return float(policy.confidence ** (1.0 / states))
    return policy.confidence


def phase_timeout(
    group: AttemptGroup,
    end: datetime,
    policy: Policy,
    *,
    start: datetime | None = None,
    level: float | None = None,
) -> PhaseTimeout:
    """The estimate and the recommended timeout for one group of attempts (bands at `level`,
    default the policy's confidence). With `start`, the window's, and no half-life: where the
    attempts changed within the window (`find_drift`), the row of those since the change
    point, with a warning saying so and why."""
    level = policy.confidence if level is None else level
    if start is not None and policy.half_life_days is None:
        drift = find_drift(group, policy, start, end)
        if drift is not None:
            row = phase_timeout(group.since(drift.at_s), end, policy, level=level)
            row.warnings = [*row.warnings, drift_warning(row, drift, start, end)]
            return row
    estimate = estimate_durations(
        group.duration_s,
        group.observed,
        attempt_weights(group.started_s, end, policy.half_life_days),
        min_attempts=policy.min_attempts,
        counts=group.counts,
        order=group.duration_order,
    )
    found = {key: estimate.quantile(q) for key, q in QUANTILES.items()}
    ci = estimate.quantile_ci(policy.target_quantile, level)
    choice = recommended_timeout(estimate, policy, level)
    current = group.current_timeout_s()
    timeout_s = choice.timeout_s
    row = PhaseTimeout(
        own_bound_s=own_bound(group, estimate, end, policy, level) if timeout_s is None else None,
        service=group.service,
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
        timeout_rate_recommended_upper=(
            estimate.survival_upper(timeout_s, level, policy.tolerated_rate) if timeout_s else None
        ),
        widened=choice.widened,
        raw_timeout_s=choice.raw_s,
        clamped=choice.clamped,
    )
    row.warnings = row_warnings(row, estimate, group, policy)
    return row


def own_bound(
    group: AttemptGroup, estimate: DurationEstimate, end: datetime, policy: Policy, level: float
) -> float | None:
    """A key without a number of its own (too few attempts, or too few completed): the least
    timeout its own attempts allow, their upper band at `level` however few they are; the
    ceiling where they bound nothing (none completed, or a tail they cannot pin down). None
    without attempts."""
    if estimate.attempts == 0:
        return None
    if estimate.completed == 0:
        return policy.ceiling_s
    loose = estimate_durations(
        group.duration_s,
        group.observed,
        attempt_weights(group.started_s, end, policy.half_life_days),
        min_attempts=1,
        counts=group.counts,
        order=group.duration_order,
    )
    found = recommended_timeout(loose, policy, level).timeout_s
    return policy.ceiling_s if found is None else found


@dataclass(frozen=True)
class TimeoutChoice:
    """A recommended timeout and how it came about."""

    timeout_s: float | None  # None: no estimate
    raw_s: float | None  # what the rule gives before rounding and clamping; None: unbounded
    widened: bool  # the upper confidence bound was used
    clamped: Literal["floor", "ceiling"] | None


def recommended_timeout(
    estimate: DurationEstimate, policy: Policy, level: float | None = None
) -> TimeoutChoice:
    """The policy's timeout, rounded up to the step and clamped to [floor, ceiling].

    Target rate (the default): the shortest time whose predicted share of attempts lasting
    longer is at most the target at the upper edge of the joined curve's band (`level`). Else
    the target quantile x (1 + margin), from the quantile's upper confidence bound when fewer
    than `few_attempts` (effective) attempts stand behind it. Where the band never gets low
    enough the data cannot bound it: the ceiling, marked clamped."""
    level = policy.confidence if level is None else level
    target, _ = estimate.quantile(policy.target_quantile)
    if target is None:
        return TimeoutChoice(None, None, False, None)
    raw: float | None
    if policy.target_rate is not None:
        raw, widened = estimate.time_for_rate(policy.target_rate, level), False
    else:
        widened = estimate.effective_attempts < policy.few_attempts
        upper = estimate.quantile_ci(policy.target_quantile, level)[1] if widened else target
        raw = None if upper is None else max(target, upper) * (1 + policy.margin)
    if raw is None:
        return TimeoutChoice(policy.ceiling_s, None, widened, "ceiling")
    rounded = math.ceil(raw / policy.step_s - 1e-9) * policy.step_s
    clamped: Literal["floor", "ceiling"] | None = None
    if rounded < policy.floor_s:
        clamped = "floor"
    elif rounded > policy.ceiling_s:
        clamped = "ceiling"
    return TimeoutChoice(
        float(min(max(rounded, policy.floor_s), policy.ceiling_s)), raw, widened, clamped
    )
