"""Phase-duration estimates for one group of attempts: Kaplan-Meier joined to the lognormal tail."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from analyzer.analysis.methods import Method
from analyzer.analysis.stats import (
    JoinedCurve,
    KaplanMeier,
    LognormalFit,
    Sample,
    effective_sample_size,
)
from analyzer.analysis.stats.survival import checked_durations, duration_order

QUANTILES: dict[str, float] = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}
# A lognormal needs a few exact durations to say anything about the tail.
MIN_COMPLETED_FOR_TAIL = 5


@dataclass(frozen=True)
class DurationEstimate:
    """What a group of phase attempts says about the phase's duration."""

    attempts: int
    completed: int
    effective_attempts: float
    km: KaplanMeier | None
    tail: LognormalFit | None
    enough: bool
    # The attempts themselves, for the curve's tail-shape fit (see `JoinedCurve`).
    sample: Sample | None = field(default=None, repr=False, compare=False)

    @cached_property
    def curve(self) -> JoinedCurve | None:
        """The Kaplan-Meier curve joined to the fitted tail (see `JoinedCurve`)."""
        if not self.enough or self.km is None:
            return None
        return JoinedCurve(self.km, self.tail, self.sample)

    def quantile(self, q: float) -> tuple[float | None, Method]:
        """The q-quantile in seconds on the joined curve and how it was found: `kaplan-meier`
        where the curve reaches it within the data, `lognormal-tail` where only the fitted
        tail beyond the curve does."""
        if self.curve is None:
            return None, "insufficient-data"
        value, from_tail = self.curve.quantile(q)
        if value is None:
            return None, "insufficient-data"
        return value, "lognormal-tail" if from_tail else "kaplan-meier"

    def quantile_ci(self, q: float, level: float) -> tuple[float | None, float | None]:
        """Confidence interval of the q-quantile from the joined curve's band: Greenwood's
        within the data, the fitted tail's beyond (None where an edge never reaches 1 - q)."""
        if self.curve is None or self.quantile(q)[0] is None:
            return None, None
        return self.curve.quantile_bounds(q, level)

    def time_for_rate(self, rate: float, level: float) -> float | None:
        """The shortest time that at most `rate` of attempts outlast, at the upper edge of the
        joined curve's band (None where the data cannot bound it)."""
        return self.curve.time_for_rate(rate, level) if self.curve is not None else None

    def survival_many(self, t: NDArray[np.float64]) -> NDArray[np.float64] | None:
        """P(duration > t) for each of `t` on the joined curve."""
        return self.curve.survival(t) if self.curve is not None else None

    def survival_at(self, t: float) -> float | None:
        """P(duration > t) on the joined curve: the Kaplan-Meier curve within the data, then
        the tail fit's chance of lasting on from where the curve is last above zero."""
        found = self.survival_many(np.array([t], dtype=np.float64))
        return None if found is None else float(found[0])

    def survival_upper(self, t: float, level: float, enough: float = 0.0) -> float | None:
        """The upper edge of the joined curve's band at `t` (or, past the data, a looser
        bound that is already at most `enough`: see `JoinedCurve.upper_at`)."""
        return self.curve.upper_at(t, level, enough) if self.curve is not None else None


def estimate_durations(
    durations: NDArray[np.float64],
    observed: NDArray[np.bool_],
    weights: NDArray[np.float64] | None = None,
    *,
    min_attempts: int,
    counts: NDArray[np.int64] | None = None,
    order: NDArray[np.intp] | None = None,
) -> DurationEstimate:
    """Fit both estimators to one group; `enough` is false under `min_attempts` attempts.
    With `counts` each row stands for that many attempts of its duration and outcome (the
    engine's counts per distinct duration), each of the row's weight; `order`: the
    durations' `duration_order` where the caller has it (both estimators read it)."""
    durations, observed = checked_durations(durations, observed, weights, counts)
    w = np.ones_like(durations) if weights is None else weights
    if counts is None:
        attempts, completed = int(durations.size), int(observed.sum())
    else:
        attempts, completed = int(counts.sum()), int(counts[observed].sum())
    enough = attempts >= min_attempts and completed > 0
    if enough and order is None:
        order = duration_order(durations)
    km = KaplanMeier.fit(durations, observed, w, counts, order) if enough else None
    tail = (
        LognormalFit.fit(durations, observed, w, counts, order)
        if enough and completed >= MIN_COMPLETED_FOR_TAIL
        else None
    )
    return DurationEstimate(
        attempts=attempts,
        completed=completed,
        effective_attempts=effective_sample_size(w, counts) if attempts else 0.0,
        km=km,
        tail=tail,
        enough=enough,
        sample=(durations, observed, w, counts),
    )
