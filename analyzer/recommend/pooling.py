"""Partial pooling: a service with too few attempts in a state takes the env's pooled timeout,
widened by how much services differ, unless its own attempts already show it slower.

The spread is the DerSimonian-Laird random-effects estimate of the between-service variance
tau^2 of log medians (DerSimonian and Laird 1986), each service's log median the mu of a
lognormal fitted to its attempts by censored maximum likelihood, with the fit's variance; the
VPC states of a phase and operation are strata sharing one tau^2 (their Q statistics, degrees
of freedom and weights summed). A borrowed timeout is the env's times exp(z tau), z the
policy's two-sided normal quantile: a service whose log median lies up to z tau from the
others' is still covered. "Already slower" is the one-sided log-rank test of the service's
attempts against the other services' (censoring-aware), in the state alone or stratified over
the phase's states, at 1 - confidence.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

from analyzer.analysis.attempts import AttemptGroup
from analyzer.analysis.stats import LognormalFit
from analyzer.analysis.stats.logrank import LogRank, LogRankPool, stratified_logrank
from analyzer.recommend.carryover import Key, no_evidence
from analyzer.recommend.model import PhaseTimeout, RecommendationWarning
from analyzer.recommend.policy import Policy

# A service's state enters the spread with this many exact durations (a lognormal needs a few).
MIN_COMPLETED = 5
Weights = Callable[[AttemptGroup], NDArray[np.float64]]


def _log_median(group: AttemptGroup, weights: Weights) -> tuple[float, float] | None:
    """mu of the censored lognormal fit and its variance; None where it cannot say."""
    if group.attempts_where(group.observed) < MIN_COMPLETED:
        return None
    fit = LognormalFit.fit(group.duration_s, group.observed, weights(group), group.counts)
    variance = fit.covariance[0][0]
    if not (math.isfinite(fit.mu) and math.isfinite(variance) and variance > 0):
        return None
    return fit.mu, variance


def service_spread(
    groups: list[AttemptGroup], weights: Weights
) -> dict[tuple[int, str], float | None]:
    """tau, the between-service standard deviation of log medians, per phase and operation
    (DerSimonian-Laird over the VPC states as strata); None where no state has two services
    to compare."""
    sums: dict[tuple[int, str], list[float]] = {}  # Q, degrees of freedom, C
    for phase, operation, state in sorted({g.key for g in groups}):
        found = [
            m
            for g in groups
            if g.key == (phase, operation, state) and g.service is not None
            for m in [_log_median(g, weights)]
            if m is not None
        ]
        totals = sums.setdefault((phase, operation), [0.0, 0.0, 0.0])
        if len(found) < 2:
            continue
        y = np.array([mu for mu, _ in found])
        w = 1.0 / np.array([v for _, v in found])
        mean = float(w @ y / w.sum())
        totals[0] += float(w @ (y - mean) ** 2)
        totals[1] += len(found) - 1
        totals[2] += float(w.sum() - (w @ w) / w.sum())
    return {
        key: math.sqrt(max(0.0, (q - df) / c)) if df > 0 and c > 0 else None
        for key, (q, df, c) in sums.items()
    }


@dataclass(frozen=True)
class Pools:
    """Every service's attempts of each phase, operation and VPC state, ready for the log-rank
    of one service against the others (`LogRankPool`), and how many services each holds."""

    pools: dict[Key, LogRankPool]
    services: dict[Key, int]

    @classmethod
    def of(cls, groups: list[AttemptGroup], pooled: list[AttemptGroup]) -> Pools:
        """From the per-service `groups` and the same pooled over services (`pool_services`)."""
        return cls(
            pools={g.key: LogRankPool.of(g.duration_s, g.observed, g.counts) for g in pooled},
            services=Counter(g.key for g in groups),
        )


def slower_than_others(
    own: list[AttemptGroup], pools: Pools, state: str, alpha: float
) -> LogRank | None:
    """The log-rank statistic that shows the service's attempts (`own`: its groups of one
    phase and operation) slower than the other services' (in `state`, else stratified over
    every state both have), or None."""
    mine = {g.vpc_state: g for g in own}
    shared = {s for s, g in mine.items() if pools.services.get(g.key, 0) > 1}

    def strata(states: set[str]) -> LogRank:
        return stratified_logrank(
            pools.pools[mine[s].key].part_against_rest(
                mine[s].duration_s, mine[s].observed, mine[s].counts
            )
            for s in sorted(states)
        )

    for states in ({state} & shared, shared):
        if states:
            found = strata(states)
            if found.p_slower < alpha:
                return found
    return None


def widened_timeout(env_row: PhaseTimeout, tau: float, policy: Policy) -> tuple[float, float]:
    """The env's timeout times exp(z tau), rounded up to the step, at most the ceiling; and
    the factor."""
    z = NormalDist().inv_cdf(0.5 + policy.confidence / 2)
    factor = math.exp(z * tau)
    raw = (env_row.timeout_s or policy.ceiling_s) * factor
    rounded = math.ceil(raw / policy.step_s - 1e-9) * policy.step_s
    return float(min(rounded, policy.ceiling_s)), factor


def borrowed(own: PhaseTimeout, env_row: PhaseTimeout, tau: float, policy: Policy) -> PhaseTimeout:
    """A sparse service's row holding the env's widened timeout, marked pooled."""
    value, factor = widened_timeout(env_row, tau, policy)
    return own.model_copy(
        update={
            "timeout_s": value,
            "raw_timeout_s": None
            if env_row.raw_timeout_s is None
            else env_row.raw_timeout_s * factor,
            "clamped": "ceiling" if value >= policy.ceiling_s else None,
            "pooled": True,
            "source": "recommended",
            "timeout_rate_recommended": None,
            "timeout_rate_recommended_upper": None,
        }
    )


def own_conservative(
    bound: PhaseTimeout,
    pooled_value: float | None,
    carried: list[tuple[float | None, str]],
    evidence: LogRank,
    policy: Policy,
) -> PhaseTimeout:
    """A sparse service that is slower than the others: the largest of its own upper bound
    (`bound`, from its few attempts; the ceiling where they cannot bound it), the pooled value
    and what it ran with before (`carried`: previous and default, with their sources)."""
    own = bound.timeout_s if bound.timeout_s is not None else policy.ceiling_s
    options = [(own, "recommended"), *((v, s) for v, s in carried if v is not None)]
    if pooled_value is not None:
        options.append((pooled_value, "recommended"))
    value, source = max(options, key=lambda o: o[0])
    row = bound.model_copy(
        update={
            "timeout_s": value,
            "source": source,
            "pooled": False,
            "clamped": "ceiling" if value >= policy.ceiling_s else bound.clamped,
        }
    )
    where = f"{row.service} phase {row.phase} {row.operation} {row.vpc_state}"
    row.warnings = [
        *bound.warnings,
        RecommendationWarning(
            kind="slower-than-pool",
            service=row.service,
            phase=row.phase,
            operation=row.operation,
            vpc_state=row.vpc_state,
            message=f"{where}: {row.attempts} attempts, too few for numbers of its own, and "
            f"its attempts are slower than the env's other services' (one-sided log-rank "
            f"p = {evidence.p_slower:.2g}): {value:g} s from its own evidence"
            + (f", not the env's pooled {pooled_value:g} s" if pooled_value is not None else ""),
        ),
    ]
    return row


def borrow(
    rows: list[PhaseTimeout],
    *,
    own: list[AttemptGroup],
    pools: Pools,
    env_rows: list[PhaseTimeout],
    spread: dict[tuple[int, str], float | None],
    carried: dict[Key, float],
    defaults: dict[Key, float],
    policy: Policy,
    bound: Callable[[AttemptGroup], PhaseTimeout],
) -> list[PhaseTimeout]:
    """One service's rows (`rows`, from its `own` groups) with each key it has too few
    attempts in settled against the env's: where its attempts, in that state or over the
    phase's states, are slower than the other services' (`pools`), its own conservative
    value (`bound`: its row with no minimum of attempts; `carried`, `defaults`: what it ran
    with before); else, where the env has evidence and the spread is known, the env's timeout
    widened (pooled); else nothing here (carried over later)."""
    found = {(r.phase, r.operation, r.vpc_state): r for r in rows}
    groups = {g.key: g for g in own}
    service = own[0].service if own else None
    for env_row in env_rows:
        key = (env_row.phase, env_row.operation, env_row.vpc_state)
        mine = found.get(key)
        if (mine is not None and mine.timeout_s is not None) or env_row.derived_from:
            continue
        base = mine or no_evidence(*key, service)
        tau = spread.get(key[:2])
        pooled = (
            borrowed(base, env_row, tau, policy)
            if env_row.source == "recommended" and tau is not None
            else None
        )
        slower = slower_than_others(
            [g for g in own if g.key[:2] == key[:2]],
            pools,
            key[2],
            alpha=1 - policy.confidence,
        )
        if slower is not None:  # its own evidence, however little: never the pool's number
            history = [(carried.get(key), "previous"), (defaults.get(key), "default")]
            found[key] = own_conservative(
                bound(groups[key]) if key in groups else base,
                None if pooled is None else pooled.timeout_s,
                history,
                slower,
                policy,
            )
        elif pooled is not None:
            found[key] = pooled
    return list(found.values())
