"""The log-rank test: do two groups of right-censored durations share one survival curve?

Mantel's form: at each distinct completion time, the completions of group A are compared with
what its share of those at risk would give, summed over time (observed O, expected E, the
hypergeometric variance V). Strata (e.g. VPC states) are summed stratum by stratum, so groups
that mix the strata differently are still compared like with like.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class LogRank:
    """O, E and V of group A's completions. A slower group A completes less often than
    expected (O < E): `z` = (E - O) / sqrt(V) is then positive."""

    observed: float
    expected: float
    variance: float

    @property
    def z(self) -> float:
        if self.variance <= 0:
            return 0.0
        return (self.expected - self.observed) / math.sqrt(self.variance)

    @property
    def p_slower(self) -> float:
        """One-sided p-value against "A is slower" (its durations stochastically longer)."""
        return 1.0 - NormalDist().cdf(self.z)

    @property
    def p_two_sided(self) -> float:
        return 2.0 * (1.0 - NormalDist().cdf(abs(self.z)))

    def __add__(self, other: LogRank) -> LogRank:
        return LogRank(
            self.observed + other.observed,
            self.expected + other.expected,
            self.variance + other.variance,
        )


def logrank(
    durations_a: ArrayLike,
    observed_a: ArrayLike,
    durations_b: ArrayLike,
    observed_b: ArrayLike,
    counts_a: ArrayLike | None = None,
    counts_b: ArrayLike | None = None,
) -> LogRank:
    """The log-rank statistic of group A against group B (`observed`: completed, else
    right-censored at that duration; `counts`: how many attempts each row stands for)."""
    ta, da = np.asarray(durations_a, dtype=np.float64), np.asarray(observed_a, dtype=bool)
    tb, db = np.asarray(durations_b, dtype=np.float64), np.asarray(observed_b, dtype=bool)
    ca = np.ones(ta.size) if counts_a is None else np.asarray(counts_a, dtype=np.float64)
    cb = np.ones(tb.size) if counts_b is None else np.asarray(counts_b, dtype=np.float64)
    times = np.unique(np.concatenate((ta[da], tb[db])))
    if times.size == 0:
        return LogRank(0.0, 0.0, 0.0)
    at_risk_a = _at_risk(ta, ca, times)
    at_risk = at_risk_a + _at_risk(tb, cb, times)
    events_a = _events(ta[da], ca[da], times)
    events = events_a + _events(tb[db], cb[db], times)
    share = at_risk_a / at_risk
    with np.errstate(invalid="ignore", divide="ignore"):
        ties = np.where(at_risk > 1, (at_risk - events) / (at_risk - 1), 0.0)
    return LogRank(
        observed=float(events_a.sum()),
        expected=float((events * share).sum()),
        variance=float((events * share * (1 - share) * ties).sum()),
    )


def stratified_logrank(strata: Iterable[LogRank]) -> LogRank:
    """The stratified statistic: O, E and V summed over strata."""
    total = LogRank(0.0, 0.0, 0.0)
    for stratum in strata:
        total = total + stratum
    return total


def _at_risk(
    durations: NDArray[np.float64], counts: NDArray[np.float64], times: NDArray[np.float64]
) -> NDArray[np.float64]:
    """How many attempts are still running at each time (duration >= time)."""
    order = np.argsort(durations, kind="stable")
    ordered, behind = durations[order], np.concatenate(([0.0], np.cumsum(counts[order])))
    return np.asarray(behind[-1] - behind[np.searchsorted(ordered, times, side="left")])


def _events(
    durations: NDArray[np.float64], counts: NDArray[np.float64], times: NDArray[np.float64]
) -> NDArray[np.float64]:
    """How many completions fall on each time."""
    order = np.argsort(durations, kind="stable")
    ordered, behind = durations[order], np.concatenate(([0.0], np.cumsum(counts[order])))
    left = np.searchsorted(ordered, times, side="left")
    return np.asarray(behind[np.searchsorted(ordered, times, side="right")] - behind[left])


@dataclass(frozen=True)
class LogRankPool:
    """Every attempt of one stratum, ready to test any part of it against the rest: the same
    statistic as `logrank(part, pool less part)`, in time linear in the part's size (after one
    sort of the pool), so testing each of many services against the others stays linear.

    The pool's completion times, its events d and at-risk n there, and prefix sums of d/n,
    d*ties/n and d*ties/n^2: the part's at-risk count a is constant between its own distinct
    durations, so E = sum a*d/n and V = sum d*(a/n)*(1 - a/n)*ties are sums over those spans."""

    times: NDArray[np.float64]
    expected_sums: NDArray[np.float64]
    variance_sums: NDArray[np.float64]
    variance_square_sums: NDArray[np.float64]

    @classmethod
    def of(
        cls, durations: ArrayLike, observed: ArrayLike, counts: ArrayLike | None = None
    ) -> LogRankPool:
        return cls.of_sorted(*by_duration(durations, observed, counts)[:3])

    @classmethod
    def of_sorted(
        cls, t: NDArray[np.float64], d: NDArray[np.bool_], c: NDArray[np.float64]
    ) -> LogRankPool:
        """The pool of attempts already in `by_duration`'s order (one sort serves the pool and
        every part of it)."""
        return cls.of_sorted_with_positions(t, d, c)[0]

    @classmethod
    def of_sorted_with_positions(
        cls, t: NDArray[np.float64], d: NDArray[np.bool_], c: NDArray[np.float64]
    ) -> tuple[LogRankPool, NDArray[np.intp]]:
        """`of_sorted`, and for each attempt how many of the pool's completion times are at
        or before its duration (what `sorted_part_against_rest` looks up for a part of these
        attempts). Read off the sorted durations' runs of equal values, without a search."""
        firsts = _firsts(t)
        starts = np.flatnonzero(firsts)
        completes = np.logical_or.reduceat(d, starts) if t.size else np.zeros(0, dtype=bool)
        times = t[starts[completes]]
        behind = np.concatenate(([0.0], np.cumsum(c)))
        at_risk = np.asarray(behind[-1] - behind[starts[completes]])
        events = np.add.reduceat(np.where(d, c, 0.0), starts)[completes] if t.size else np.zeros(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            ties = np.where(at_risk > 1, (at_risk - events) / (at_risk - 1), 0.0)
            per_risk = np.where(at_risk > 0, 1.0 / at_risk, 0.0)

        def prefix(values: NDArray[np.float64]) -> NDArray[np.float64]:
            return np.concatenate(([0.0], np.cumsum(values)))

        pool = cls(
            times=times,
            expected_sums=prefix(events * per_risk),
            variance_sums=prefix(events * ties * per_risk),
            variance_square_sums=prefix(events * ties * per_risk**2),
        )
        return pool, np.cumsum(completes)[np.cumsum(firsts) - 1]

    def part_against_rest(
        self, durations: ArrayLike, observed: ArrayLike, counts: ArrayLike | None = None
    ) -> LogRank:
        """`logrank(part, rest)` for a part of the pool (its attempts are among the pool's)."""
        return self.sorted_part_against_rest(*by_duration(durations, observed, counts)[:3])

    def sorted_part_against_rest(
        self,
        t: NDArray[np.float64],
        d: NDArray[np.bool_],
        c: NDArray[np.float64],
        positions: NDArray[np.intp] | None = None,
    ) -> LogRank:
        """`part_against_rest` of a part in `by_duration`'s order (`positions`: its attempts'
        from `of_sorted_with_positions`, else searched for)."""
        if self.times.size == 0 or t.size == 0:
            return LogRank(float(c[d].sum()), 0.0, 0.0)
        firsts = _firsts(t)
        spans = t[firsts]
        # at risk over (previous duration, this duration]: the part's attempts this long or longer
        at_risk = np.cumsum(np.add.reduceat(c, np.flatnonzero(firsts))[::-1])[::-1]
        high = (
            np.searchsorted(self.times, spans, side="right")
            if positions is None
            else positions[firsts]
        )
        low = np.concatenate(([0], high[:-1]))

        def over_spans(sums: NDArray[np.float64]) -> NDArray[np.float64]:
            return np.asarray(sums[high] - sums[low])

        variance = _dot(at_risk, over_spans(self.variance_sums)) - _dot(
            at_risk**2, over_spans(self.variance_square_sums)
        )
        return LogRank(
            observed=float(c[d].sum()),
            expected=_dot(at_risk, over_spans(self.expected_sums)),
            variance=max(variance, 0.0),
        )


def _dot(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """The dot product summed by numpy (pairwise) in this thread: a BLAS dot (`@`) splits one
    of over 10,000 terms across OpenBLAS's threads, whose spinning while they wait for work
    took about a third of a recommendation's CPU time, on the core DuckDB answers the
    breaker's questions on meanwhile."""
    return float(np.add.reduce(a * b))


def by_duration(
    durations: ArrayLike,
    observed: ArrayLike,
    counts: ArrayLike | None = None,
    order: NDArray[np.intp] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64], NDArray[np.intp]]:
    """Durations, outcomes and counts (1 where None) in the order of the durations (stable;
    `order` where the caller has it), and that order. Counts are whole numbers, so sums over
    them do not depend on the order."""
    t, d = np.asarray(durations, dtype=np.float64), np.asarray(observed, dtype=bool)
    c = np.ones(t.size) if counts is None else np.asarray(counts, dtype=np.float64)
    order = np.argsort(t, kind="stable") if order is None else order
    return t[order], d[order], c[order], order


def _firsts(ordered: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Where each distinct value of a sorted array first appears."""
    if not ordered.size:
        return np.zeros(0, dtype=bool)
    return np.concatenate(([True], ordered[1:] != ordered[:-1]))
