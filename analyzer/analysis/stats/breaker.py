"""The circuit-breaker model: false trips from independent failures, failure streaks, outages."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

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


def _runs(failed: ArrayLike) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Start and end (exclusive) index of each run of consecutive failures."""
    flags = np.asarray(failed, dtype=np.int8)
    edges = np.diff(np.concatenate(([0], flags, [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def failure_streaks(failed: ArrayLike) -> list[int]:
    """Lengths of the runs of consecutive failures, in order."""
    starts, ends = _runs(failed)
    return [int(n) for n in ends - starts]


def outages(failed_at: ArrayLike, failed: ArrayLike, min_streak: int = 1) -> list[float]:
    """Seconds from the first failure of each run of at least `min_streak` failures to the next
    success. `failed_at` holds each call's end time (epoch seconds), in call order; a run
    still going at the end has no recovery yet and is left out."""
    times = np.asarray(failed_at, dtype=np.float64)
    starts, ends = _runs(failed)
    keep = (ends - starts >= min_streak) & (ends < times.size)
    return [float(d) for d in times[ends[keep]] - times[starts[keep]]]
