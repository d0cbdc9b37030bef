"""The circuit-breaker model: false trips from independent failures (consecutive and rate
rules, binomial tails) and from failures in bursts (a Markov chain whose correlation the
dispersion of windows' failure counts shows), and episodes of the VPC timeline."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

# The distributions' functions are called as scipy.stats calls them (the same ufuncs, the same
# guards), from scipy.special: importing scipy.stats costs 0.3 to 1.5 s at every start.


def normal_quantile(q: float) -> float:
    """scipy.stats.norm.ppf(q)."""
    from scipy import special

    return float(special.ndtri(q))


def beta_quantile(q: float, a: float, b: float) -> float:
    """scipy.stats.beta.ppf(q, a, b)."""
    from scipy.special import _ufuncs

    if not (a > 0 and b > 0 and 0 <= q <= 1):
        return math.nan
    if q == 0 or q == 1:
        return float(q)
    return float(_ufuncs._beta_ppf(q, a, b))


def binomial_sf(k: ArrayLike, n: ArrayLike, p: float) -> NDArray[np.float64]:
    """scipy.stats.binom.sf(k, n, p), P(X > k), for whole `n` >= 0 and `p` in [0, 1]."""
    from scipy.special import _ufuncs

    k, n = np.broadcast_arrays(np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64))
    found = np.where(k < 0, 1.0, 0.0)
    inside = (k >= 0) & (k < n)
    if inside.any():
        found[inside] = np.clip(_ufuncs._binom_sf(np.floor(k[inside]), n[inside], p), 0, 1)
    return found


def poisson_quantile(q: float, mu: float) -> float:
    """scipy.stats.poisson.ppf(q, mu), for `q` in (0, 1)."""
    from scipy import special

    if not mu >= 0:
        return math.nan
    found = math.ceil(special.pdtrik(q, mu))
    below = max(found - 1, 0)
    return float(below if special.pdtr(below, mu) >= q else found)


def run_false_opens(threshold: int, failure_rate: float, correlation: float, calls: float) -> float:
    """Expected runs of `threshold` failures in a row among `calls` calls whose failures come
    in bursts: a two-state Markov chain whose failure share is `failure_rate` and whose lag-one
    correlation is `correlation` (0: independent: calls·(1-p)·p^threshold). A run starts at a
    call that fails after a success, (1-p)·a with a = p(1-rho), and goes on with probability
    q = p + rho(1-p) per call, so it reaches `threshold` calls with q^(threshold-1)."""
    p = min(max(failure_rate, 0.0), 1.0)
    rho = min(max(correlation, 0.0), 1.0)
    if p >= 1.0 or rho >= 1.0:
        return float(calls > 0) if p > 0 else 0.0
    starts = p * (1.0 - rho)
    go_on = p + rho * (1.0 - p)
    return calls * (1.0 - p) * starts * go_on ** (threshold - 1)


def dispersion(
    calls: NDArray[np.float64], failures: NDArray[np.float64], level: float
) -> tuple[float, float]:
    """How much more the failures of windows of calls vary than independent failures would
    (the index of dispersion: 1 when independent, more when they come in bursts), and its upper
    confidence bound at `level`: the point and the bound, each at least 1. The bound is the
    mean of the windows' standardised squared deviations plus its normal margin from their own
    spread (few failures in short windows make their sum far more variable than chi-square
    says). Windows without calls say nothing and are left out."""
    used = calls > 0
    c, f = calls[used], failures[used]
    total = float(c.sum())
    p = float(f.sum()) / total if total else 0.0
    if c.size < 2 or p <= 0.0 or p >= 1.0:
        return 1.0, 1.0
    terms = ((f - c * p) ** 2) / (c * p * (1.0 - p))
    index = float(terms.sum()) / (c.size - 1)
    margin = normal_quantile(level) * float(terms.std(ddof=1)) / math.sqrt(c.size)
    return max(1.0, index), max(1.0, index + margin)


def _window_dispersion(rho: float, sizes: NDArray[np.int64], weights: NDArray[np.float64]) -> float:
    """The index of dispersion of a window of n calls of the Markov chain of lag-one
    correlation `rho`, 1 + 2 sum_k<n (1 - k/n) rho^k, averaged over the windows' sizes
    (`weights`: how many windows have each size)."""
    if rho <= 0.0:
        return 1.0
    lags = np.arange(1, int(sizes.max()))
    powers = rho**lags
    values = [1.0 + 2.0 * float(((1.0 - lags[: n - 1] / n) * powers[: n - 1]).sum()) for n in sizes]
    return float(np.average(values, weights=weights))


def burst_correlation(index: float, calls: NDArray[np.float64]) -> float:
    """The lag-one correlation of a Markov chain of failures whose windows of `calls` calls
    show the index of dispersion `index` (0 for 1 or less); the windows' sizes matter, since a
    burst longer than a window cannot show its whole length in it (a window of n calls shows
    at most n, so an index no window size can show gives the largest correlation)."""
    found = calls[calls > 0]
    if index <= 1.0 or not found.size:
        return 0.0
    sizes, counts = np.unique(np.rint(found).astype(np.int64), return_counts=True)
    weights = counts.astype(np.float64)
    low, high = 0.0, 1.0 - 1e-6
    if _window_dispersion(high, sizes, weights) <= index:
        return high
    for _ in range(60):
        mid = (low + high) / 2
        if _window_dispersion(mid, sizes, weights) < index:
            low = mid
        else:
            high = mid
    return high


def at_least(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): the chance a window of `n` calls holds `k` or more
    failures when each fails independently with probability `p`."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return float(binomial_sf(k - 1, n, min(max(p, 0.0), 1.0)))


def upper_rate(events: float, trials: float, level: float) -> float:
    """One-sided upper confidence bound of a binomial rate (Clopper-Pearson at `level`)."""
    if trials <= 0:
        return 1.0
    if events >= trials:
        return 1.0
    return beta_quantile(level, events + 1, trials - events)


def lower_rate(events: float, trials: float, level: float) -> float:
    """One-sided lower confidence bound of a binomial rate (Clopper-Pearson at `level`)."""
    if trials <= 0 or events <= 0:
        return 0.0
    return beta_quantile(1.0 - level, events, trials - events + 1)


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
    calls = np.arange(1, window + 1)
    needed = np.maximum(1, np.ceil(threshold * calls - 1e-9))
    return binomial_sf(needed - 1, calls, min(max(rate, 0.0), 1.0))


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
    counts = np.arange(1, window + 1)
    tails = binomial_sf(counts - 1, window, min(max(quiet_rate, 0.0), 1.0))
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
