"""The joined survival curve: Kaplan-Meier within the data, the fitted tail beyond, one band."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from analyzer.analysis.stats.gengamma import GeneralizedGammaFit, Sample
from analyzer.analysis.stats.lognormal import LognormalFit
from analyzer.analysis.stats.survival import KaplanMeier

FloatArray = NDArray[np.float64]
# Beyond the join, bands are solved on a geometric grid: 4,000 points over four decades (steps
# of 0.23 %), read at the first point that meets the level, so a bound is never understated.
GRID_DECADES = 4.0
GRID_POINTS = 4000


@dataclass(frozen=True)
class JoinedCurve:
    """S(t) = P(duration > t): the Kaplan-Meier curve up to `join_s`, the last duration at which
    it is still above zero; beyond, S(join_s) times the fitted lognormal's chance of lasting
    from `join_s` to t. The curve's final drop to zero (the longest attempt completing, with
    nothing left at risk) is never used: no attempt lies beyond it to support a quantile there.
    Without a fit the curve stays at S(join_s) beyond the join and reaches no lower.
    `sample`, the attempts both were fitted to, gives the band beyond the join the heaviest
    tail they do not rule out (see `band`)."""

    km: KaplanMeier
    tail: LognormalFit | None
    sample: Sample | None = field(default=None, repr=False, compare=False)
    # `band`'s answers by (level, beyond): a recommendation reads one band several times
    _bands: dict[tuple[float, bool], tuple[FloatArray, FloatArray, FloatArray]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @cached_property
    def shape_fit(self) -> GeneralizedGammaFit | None:
        """A generalized gamma fitted to `sample`: how heavy a tail the attempts allow. Only
        a band needs it, so it is fitted on first use."""
        if self.tail is None or self.sample is None:
            return None
        return GeneralizedGammaFit.fit(*self.sample, start=self.tail)

    @cached_property
    def join_s(self) -> float:
        if self.km.survival[-1] > 0.0:
            return self.km.last_time
        positive = np.flatnonzero(self.km.survival > 0.0)
        return float(self.km.times[positive[-1]]) if positive.size else 0.0

    @cached_property
    def join_survival(self) -> float:
        return self.km.survival_at(self.join_s) if self.join_s > 0.0 else 1.0

    def survival(self, t: FloatArray) -> FloatArray:
        """S at each of `t`."""
        t = np.asarray(t, dtype=np.float64)
        index = np.searchsorted(self.km.times, t, side="right") - 1
        inside = np.where(index < 0, 1.0, self.km.survival[np.maximum(index, 0)])
        if self.tail is None:
            beyond = np.full_like(t, self.join_survival)
        else:
            log_ratio = self.tail.log_conditional_survival(np.maximum(t, self.join_s), self.join_s)
            beyond = self.join_survival * np.exp(log_ratio)
        return np.asarray(np.where(t <= self.join_s, inside, beyond), dtype=np.float64)

    def quantile(self, q: float) -> tuple[float | None, bool]:
        """The q-quantile, and whether the tail beyond the join gave it."""
        if self.join_survival <= 1.0 - q + 1e-12:
            return self.km.quantile(q), False
        if self.tail is None:
            return None, True
        return self.tail.conditional_quantile(q, self.join_s, self.join_survival), True

    def quantile_bounds(self, q: float, level: float) -> tuple[float | None, float | None]:
        """Confidence interval of the q-quantile: where the lower and the upper edge of the
        band (`band`) first reach 1 - q; None where an edge never gets that low. Where the
        band inside the data gets that low, the tail beyond is not consulted (nor fitted)."""
        inside = self.band(level, beyond=False)
        if _first_at_or_below(inside[0], inside[2], 1.0 - q) is None:
            times, low, high = self.band(level)
        else:
            times, low, high = inside
        return _first_at_or_below(times, low, 1.0 - q), _first_at_or_below(times, high, 1.0 - q)

    def upper_at(self, t: float, level: float, enough: float = 0.0) -> float:
        """The band's upper edge at `t` (the tail's only past the join). Past the join, the
        band's edge at the join where that is already at most `enough`: the curve never
        rises, so it bounds every later time too, and the tail need not be fitted for it."""
        beyond = t > self.join_s
        times, _, high = self.band(level, beyond=False)
        if beyond and not (high.size and high[-1] <= enough):
            times, _, high = self.band(level)
        index = int(np.searchsorted(times, t, side="right")) - 1
        return 1.0 if index < 0 else float(high[index])

    def time_for_rate(self, rate: float, level: float) -> float | None:
        """The shortest time whose share of attempts lasting longer is at most `rate` even at
        the upper edge of the band: a timeout meeting the target with that confidence."""
        return self.quantile_bounds(1.0 - rate, level)[1]

    def band(self, level: float, beyond: bool = True) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Times and the band's lower and upper edges there (each non-increasing). Within the
        data Greenwood's band (on the log(-log S) scale); beyond the join, the band of
        S(join_s) times a band of the conditional tail from the tail shape's profile-
        likelihood interval at `level` (see `_tail_band`). `beyond` false: the band inside
        the data alone. Read-only arrays, computed once per level."""
        found = self._bands.get((level, beyond))
        if found is None:
            found = self._band(level, beyond)
            for edge in found:
                edge.flags.writeable = False
            self._bands[level, beyond] = found
        return found

    def _band(self, level: float, beyond: bool) -> tuple[FloatArray, FloatArray, FloatArray]:
        km = self.km
        inside = km.times <= self.join_s
        km_low, km_high = km.band(level)
        times, low, high = km.times[inside], km_low[inside], km_high[inside]
        if self.tail is not None and beyond:
            s_low, s_high = (low[-1], high[-1]) if low.size else (1.0, 1.0)
            start = max(self.join_s, 1e-3)
            grid = start * np.logspace(0.0, GRID_DECADES, GRID_POINTS)[1:]
            c_low, c_high = self._tail_band(grid, level)
            times = np.concatenate((times, grid))
            low = np.concatenate((low, s_low * c_low))
            high = np.concatenate((high, s_high * c_high))
        # The true curve never rises: an upper edge holds for all later times, a lower one for
        # all earlier ones.
        high = np.minimum.accumulate(high)
        low = np.maximum.accumulate(low[::-1])[::-1]
        return times, low, high

    def _tail_band(self, t: FloatArray, level: float) -> tuple[FloatArray, FloatArray]:
        """P(X > t | X > join_s)'s band: the fitted lognormal's delta-method band, or, where
        the attempts fit the generalized gamma, the band over every tail shape they do not
        rule out (`GeneralizedGammaFit.conditional_band`): lighter than the lognormal's
        where they rule its tail out, heavier where they cannot (a lognormal fitted to a
        heavier-tailed law understates the tail beyond the data, and few attempts cannot
        tell the two apart); [0, 1] beyond the join where nothing bounds the shape."""
        assert self.tail is not None
        if self.shape_fit is None:
            c_low, _, c_high = self.tail.conditional_survival_bounds(t, self.join_s, level)
            return c_low, c_high
        found = self.shape_fit.conditional_band(t, self.join_s, level)
        return found if found is not None else (np.zeros_like(t), np.ones_like(t))

    def disagreement(self) -> tuple[float, float]:
        """How far the fitted law strays from the curve inside the data: the largest gap
        |S_km - S_fit| in Greenwood standard errors over the curve's steps before the join
        where at least `MIN_AT_RISK_FOR_CHECK` attempts remain, and the time of that gap."""
        if self.tail is None:
            return 0.0, 0.0
        km = self.km
        keep = (km.times < self.join_s) & (km.survival * km.n >= MIN_AT_RISK_FOR_CHECK)
        if not keep.any():
            return 0.0, 0.0
        times = km.times[keep]
        fitted = self.tail.survival_many(times)
        se = np.maximum(km.standard_error()[keep], np.sqrt(fitted * (1 - fitted) / km.n))
        with np.errstate(divide="ignore", invalid="ignore"):
            gap = np.where(se > 0, np.abs(km.survival[keep] - fitted) / se, 0.0)
        worst = int(np.argmax(gap))
        return float(gap[worst]), float(times[worst])


# The fit check looks where the curve still rests on a handful of attempts.
MIN_AT_RISK_FOR_CHECK = 5.0


def _first_at_or_below(times: FloatArray, curve: FloatArray, level: float) -> float | None:
    hits = np.flatnonzero(curve <= level + 1e-12)
    return float(times[hits[0]]) if hits.size else None
