"""Circuit-breaker settings for a phase's dependency, from the sequence of its calls."""

from __future__ import annotations

import numpy as np

from analyzer.analysis.attempts import AttemptGroup
from analyzer.analysis.stats import (
    expected_false_trips,
    failure_streaks,
    failure_threshold,
    outages,
)
from analyzer.recommend.model import Breaker, Policy

HEALTHY = "healthy"
DEFAULT_RECOVERY_S = 30.0
RECOVERY_BOUNDS_S = (5.0, 600.0)
MODEL = (
    "Calls in healthy periods are taken as independent, each failing with the healthy failure "
    "rate p (failures + 0.5 over calls + 1, so a clean record still counts as a small risk). "
    "A run of k failures in a row then starts at a call with probability (1-p)·p^k, so N calls "
    "a week trip a k-failure breaker about N·(1-p)·p^k times a week with nothing wrong. "
    "failure_threshold is the smallest k that keeps this at or below the target. "
    "recovery_timeout_s is the median outage: seconds from the first failure of a run of "
    "failures (two or more where there are any) to the next success."
)


def advise_breaker(groups: list[AttemptGroup], *, policy: Policy, weeks: float) -> Breaker:
    """Settings from the calls of `policy.breaker_phase` (every operation, every VPC state)."""
    calls = [g for g in groups if g.phase == policy.breaker_phase] or groups
    started = np.concatenate([g.started_s for g in calls])
    order = np.argsort(started, kind="stable")
    failed = ~np.concatenate([g.observed for g in calls])[order]
    ended = np.concatenate([g.ended_s for g in calls])[order]

    by_state: dict[str, dict[str, float]] = {}
    for g in calls:
        found = by_state.setdefault(g.vpc_state, {"calls": 0, "failures": 0})
        found["calls"] += g.size
        found["failures"] += int((~g.observed).sum())
    for found in by_state.values():
        found["failure_rate"] = found["failures"] / found["calls"] if found["calls"] else 0.0
    healthy = by_state.get(HEALTHY) or {
        "calls": float(failed.size),
        "failures": float(failed.sum()),
    }
    rate = (healthy["failures"] + 0.5) / (healthy["calls"] + 1.0)
    calls_per_week = healthy["calls"] / weeks if weeks > 0 else healthy["calls"]
    threshold = failure_threshold(rate, calls_per_week, policy.max_false_trips_per_week)

    streaks = failure_streaks(failed)
    min_streak = 2 if any(s >= 2 for s in streaks) else 1
    durations = outages(ended, failed, min_streak=min_streak)
    recovery = float(np.median(durations)) if durations else DEFAULT_RECOVERY_S
    recovery = float(np.clip(np.ceil(recovery), *RECOVERY_BOUNDS_S))
    lengths, counts = np.unique(np.asarray(streaks, dtype=int), return_counts=True)
    return Breaker(
        failure_threshold=threshold,
        recovery_timeout_s=recovery,
        half_open_max_calls=policy.half_open_max_calls,
        evidence={
            "phase": policy.breaker_phase,
            "calls": int(failed.size),
            "failure_rates_by_state": dict(sorted(by_state.items())),
            "healthy_failure_rate": rate,
            "healthy_calls_per_week": calls_per_week,
            "expected_false_trips_per_week": expected_false_trips(threshold, rate, calls_per_week),
            "max_false_trips_per_week": policy.max_false_trips_per_week,
            "streaks": {
                "count": len(streaks),
                "longest": max(streaks, default=0),
                "lengths": {str(n): int(c) for n, c in zip(lengths, counts, strict=True)},
            },
            "outages": {
                "count": len(durations),
                "min_failures": min_streak,
                "median_s": float(np.median(durations)) if durations else None,
                "p90_s": float(np.quantile(durations, 0.9)) if durations else None,
                "max_s": max(durations, default=None),
            },
            "recovery_timeout_source": "median outage" if durations else "default (no outage seen)",
            "model": MODEL,
        },
    )
