"""Circuit-breaker settings for a phase's dependency, from the sequence of its calls."""

from __future__ import annotations

import statistics

import numpy as np
import polars as pl

from analyzer.recommendation import Breaker, Policy
from analyzer.stats import expected_false_trips, failure_streaks, failure_threshold, outages

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


def advise_breaker(calls: pl.DataFrame, *, policy: Policy, weeks: float) -> Breaker:
    """`calls`: the dependency phase's attempts in start order (vpc_state, observed, ended_at)."""
    failed = ~calls["observed"].to_numpy().astype(bool)
    states = calls["vpc_state"].to_list()
    by_state: dict[str, dict[str, float]] = {}
    for state in sorted(set(states)):
        mask = np.array([s == state for s in states])
        n, f = int(mask.sum()), int(failed[mask].sum())
        by_state[state] = {"calls": n, "failures": f, "failure_rate": f / n if n else 0.0}
    healthy = by_state.get(HEALTHY) or {
        "calls": float(len(states)),
        "failures": float(failed.sum()),
    }
    rate = (healthy["failures"] + 0.5) / (healthy["calls"] + 1.0)
    calls_per_week = healthy["calls"] / weeks if weeks > 0 else healthy["calls"]
    threshold = failure_threshold(rate, calls_per_week, policy.max_false_trips_per_week)

    streaks = failure_streaks(failed)
    ended = np.array([t.timestamp() for t in calls["ended_at"].to_list()], dtype=np.float64)
    min_streak = 2 if any(s >= 2 for s in streaks) else 1
    durations = outages(ended, failed, min_streak=min_streak)
    recovery = statistics.median(durations) if durations else DEFAULT_RECOVERY_S
    recovery = float(np.clip(np.ceil(recovery), *RECOVERY_BOUNDS_S))
    histogram: dict[str, int] = {}
    for s in streaks:
        histogram[str(s)] = histogram.get(str(s), 0) + 1
    return Breaker(
        failure_threshold=threshold,
        recovery_timeout_s=recovery,
        half_open_max_calls=policy.half_open_max_calls,
        evidence={
            "phase": policy.breaker_phase,
            "calls": len(states),
            "failure_rates_by_state": by_state,
            "healthy_failure_rate": rate,
            "healthy_calls_per_week": calls_per_week,
            "expected_false_trips_per_week": expected_false_trips(threshold, rate, calls_per_week),
            "max_false_trips_per_week": policy.max_false_trips_per_week,
            "streaks": {
                "count": len(streaks),
                "longest": max(streaks, default=0),
                "lengths": dict(sorted(histogram.items(), key=lambda kv: int(kv[0]))),
            },
            "outages": {
                "count": len(durations),
                "min_failures": min_streak,
                "median_s": statistics.median(durations) if durations else None,
                "p90_s": float(np.quantile(durations, 0.9)) if durations else None,
                "max_s": max(durations, default=None),
            },
            "recovery_timeout_source": "median outage" if durations else "default (no outage seen)",
            "model": MODEL,
        },
    )
