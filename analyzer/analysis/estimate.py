"""Phase-duration estimates for one group of attempts: Kaplan-Meier, else the lognormal tail."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analyzer.analysis.methods import Method
from analyzer.analysis.stats import KaplanMeier, LognormalFit, effective_sample_size

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

    def quantile(self, q: float) -> tuple[float | None, Method]:
        """The q-quantile in seconds and how it was found."""
        if not self.enough:
            return None, "insufficient-data"
        value = self.km.quantile(q) if self.km else None
        if value is not None:
            return value, "kaplan-meier"
        if self.tail is not None:
            return self.tail.quantile(q), "lognormal-tail"
        return None, "insufficient-data"

    def quantile_ci(self, q: float, level: float) -> tuple[float | None, float | None]:
        """Greenwood where the curve reaches q (the tail fit bounds it from above where the
        band does not); the delta method on the tail fit where only the fit reaches it."""
        _, method = self.quantile(q)
        if method == "insufficient-data":
            return None, None
        if method == "lognormal-tail" and self.tail is not None:
            return self.tail.quantile_ci(q, level)
        assert self.km is not None
        low, high = self.km.quantile_ci(q, level)
        if high is None and self.tail is not None:
            high = max(self.tail.quantile_ci(q, level)[1], self.km.quantile(q) or 0.0)
        return low, high

    def survival_many(self, t: NDArray[np.float64]) -> NDArray[np.float64] | None:
        """`survival_at` for many times at once."""
        if not self.enough or self.km is None:
            return None
        km = self.km
        index = np.searchsorted(km.times, t, side="right") - 1
        inside = np.where(index < 0, 1.0, km.survival[np.maximum(index, 0)])
        if self.tail is None:
            return np.asarray(inside, dtype=np.float64)
        last = km.last_time
        at_last = self.tail.survival_at(last)
        beyond = (
            km.survival_at(last) * self.tail.survival_many(t) / at_last
            if at_last > 0.0
            else np.zeros_like(t)
        )
        return np.asarray(np.where(t <= last, inside, beyond), dtype=np.float64)

    def survival_at(self, t: float) -> float | None:
        """P(duration > t): the curve within the data; beyond it, the curve's last value times
        the tail fit's chance of lasting from there to t (so the two join without a jump)."""
        if not self.enough or self.km is None:
            return None
        last = self.km.last_time
        if t <= last or self.tail is None:
            return self.km.survival_at(t)
        at_last = self.tail.survival_at(last)
        if at_last <= 0.0:
            return 0.0
        return self.km.survival_at(last) * self.tail.survival_at(t) / at_last


def estimate_durations(
    durations: NDArray[np.float64],
    observed: NDArray[np.bool_],
    weights: NDArray[np.float64] | None = None,
    *,
    min_attempts: int,
) -> DurationEstimate:
    """Fit both estimators to one group; `enough` is false under `min_attempts` attempts."""
    w = np.ones_like(durations) if weights is None else weights
    attempts, completed = int(durations.size), int(observed.sum())
    enough = attempts >= min_attempts and completed > 0
    km = KaplanMeier.fit(durations, observed, w) if enough else None
    tail = (
        LognormalFit.fit(durations, observed, w)
        if enough and completed >= MIN_COMPLETED_FOR_TAIL
        else None
    )
    return DurationEstimate(
        attempts=attempts,
        completed=completed,
        effective_attempts=effective_sample_size(w) if attempts else 0.0,
        km=km,
        tail=tail,
        enough=enough,
    )
