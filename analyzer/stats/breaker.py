"""The circuit-breaker model: false trips from independent failures, failure streaks, outages."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

MAX_THRESHOLD = 50


def expected_false_trips(threshold: int, failure_rate: float, calls: float) -> float:
    """Expected runs of `threshold` failures in a row among `calls` independent calls that each
    fail with probability `failure_rate`: a run starts at a call with probability (1-p)·p^k."""
    p = min(max(failure_rate, 0.0), 1.0)
    return calls * (1.0 - p) * p**threshold if p < 1.0 else float(calls > 0)


def failure_threshold(failure_rate: float, calls_per_week: float, max_trips_per_week: float) -> int:
    """The smallest number of consecutive failures that opens the breaker while keeping expected
    false trips in healthy periods at or below `max_trips_per_week`."""
    for k in range(1, MAX_THRESHOLD + 1):
        if expected_false_trips(k, failure_rate, calls_per_week) <= max_trips_per_week:
            return k
    return MAX_THRESHOLD


def failure_streaks(failed: ArrayLike) -> list[int]:
    """Lengths of the runs of consecutive failures, in order."""
    streaks, run = [], 0
    for f in np.asarray(failed, dtype=bool):
        if f:
            run += 1
        elif run:
            streaks.append(run)
            run = 0
    if run:
        streaks.append(run)
    return streaks


def outages(failed_at: ArrayLike, failed: ArrayLike, min_streak: int = 1) -> list[float]:
    """Seconds from the first failure of each run of at least `min_streak` failures to the next
    success. `failed_at` holds each call's end time (epoch seconds), in call order; a run
    still going at the end has no recovery yet and is left out."""
    times = np.asarray(failed_at, dtype=np.float64)
    flags = np.asarray(failed, dtype=bool)
    found, first, run = [], 0.0, 0
    for t, f in zip(times, flags, strict=True):
        if f:
            if run == 0:
                first = float(t)
            run += 1
        else:
            if run >= min_streak:
                found.append(float(t) - first)
            run = 0
    return found
