"""The circuit-breaker model: false trips from independent failures (consecutive and rate
rules, binomial tails), failure streaks, and episodes of the VPC timeline."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

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


def at_least(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): the chance a window of `n` calls holds `k` or more
    failures when each fails independently with probability `p`."""
    from scipy.stats import binom

    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return float(binom.sf(k - 1, n, min(max(p, 0.0), 1.0)))


def upper_rate(events: float, trials: float, level: float) -> float:
    """One-sided upper confidence bound of a binomial rate (Clopper-Pearson at `level`)."""
    from scipy.stats import beta

    if trials <= 0:
        return 1.0
    if events >= trials:
        return 1.0
    return float(beta.ppf(level, events + 1, trials - events))


def lower_rate(events: float, trials: float, level: float) -> float:
    """One-sided lower confidence bound of a binomial rate (Clopper-Pearson at `level`)."""
    from scipy.stats import beta

    if trials <= 0 or events <= 0:
        return 0.0
    return float(beta.ppf(1.0 - level, events, trials - events + 1))


@dataclass(frozen=True)
class RateRule:
    """A rate rule over a count-based sliding window: once `minimum_calls` calls are in the
    window (at most `window_calls`), the share of bad calls at or over `threshold` opens it."""

    window_calls: int
    minimum_calls: int
    threshold: float
    false_trip: float  # the largest chance, over window fills, that quiet calls open it
    trip: float  # the chance a full window of strained calls opens it

    def trip_at(self, rate: float) -> float:
        """The chance a full window of calls failing at `rate` opens it."""
        return at_least(
            math.ceil(self.threshold * self.window_calls - 1e-9), self.window_calls, rate
        )


def _fill_chances(threshold: float, window: int, rate: float) -> NDArray[np.float64]:
    """For each fill of the window (1 to `window` calls), the chance that calls failing
    independently at `rate` reach `threshold` there."""
    from scipy.stats import binom

    calls = np.arange(1, window + 1)
    needed = np.maximum(1, np.ceil(threshold * calls - 1e-9))
    return np.asarray(binom.sf(needed - 1, calls, min(max(rate, 0.0), 1.0)), dtype=np.float64)


def false_trip_chance(threshold: float, window: int, minimum: int, rate: float) -> float:
    """The largest chance, over the window's fills from `minimum` to `window` calls, that calls
    failing independently at `rate` reach `threshold` (an evaluation that opens the breaker)."""
    return float(_fill_chances(threshold, window, rate)[minimum - 1 :].max())


def rate_rule(
    window: int, quiet_rate: float, strained_rate: float, alpha: float
) -> RateRule | None:
    """The lowest threshold (a whole number of the window's calls) whose false trips at
    `quiet_rate` stay at or under `alpha` per evaluation, the fewest calls from which every
    evaluation keeps that, and its chance of opening on a full window at `strained_rate`;
    None when no threshold of this window can."""
    from scipy.stats import binom

    counts = np.arange(1, window + 1)
    tails = binom.sf(counts - 1, window, min(max(quiet_rate, 0.0), 1.0))
    allowed = np.flatnonzero(tails <= alpha)
    if not allowed.size:
        return None
    k = int(counts[allowed[0]])
    threshold = k / window
    chances = _fill_chances(threshold, window, quiet_rate)
    # the suffix maximum: from which fill on every evaluation stays under alpha
    worst_after = np.maximum.accumulate(chances[::-1])[::-1]
    minimum = int(np.flatnonzero(worst_after <= alpha)[0]) + 1
    return RateRule(
        window_calls=window,
        minimum_calls=minimum,
        threshold=threshold,
        false_trip=float(worst_after[minimum - 1]),
        trip=at_least(k, window, strained_rate),
    )


def episodes(
    timeline: list[tuple[float, str]], *, start: float, end: float, states: frozenset[str]
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """How long each episode of `states` lasted: a run of consecutive timeline entries (epoch
    seconds, state; oldest first) whose states are all in `states`, begun inside [start, end).
    An episode still going at `end` is right-censored there (its `ended` is False)."""
    lengths: list[float] = []
    ended: list[bool] = []
    began: float | None = None
    for at, state in sorted(timeline):
        if at >= end:
            break
        if state in states:
            if began is None:
                began = at
        elif began is not None:
            if began >= start:
                lengths.append(at - began)
                ended.append(True)
            began = None
    if began is not None and began >= start:
        lengths.append(end - began)
        ended.append(False)
    return np.asarray(lengths, dtype=np.float64), np.asarray(ended, dtype=bool)
