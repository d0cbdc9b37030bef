"""Kaplan-Meier survival of right-censored durations, with Greenwood confidence bands."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analyzer.errors import AnalyzerError

FloatArray = NDArray[np.float64]


class InvalidDurationsError(AnalyzerError, ValueError):
    """Durations, weights or counts an estimator cannot take (NaN, negative, infinite, or of
    different lengths)."""


def _refuse_bad(name: str, values: FloatArray) -> None:
    bad = ~np.isfinite(values) | (values < 0)
    if not bad.any():
        return
    first = int(np.flatnonzero(bad)[0])
    nan, infinite = int(np.isnan(values).sum()), int(np.isinf(values).sum())
    negative = int((values < 0).sum())
    parts = [
        f"{k} {label}"
        for k, label in ((nan, "NaN"), (infinite, "infinite"), (negative, "negative"))
        if k
    ]
    raise InvalidDurationsError(
        f"{name} must be finite and not negative: {int(bad.sum())} of {values.size} are not "
        f"({', '.join(parts)}; the first is row {first}: {values[first]!r})"
    )


def checked_durations(
    durations: ArrayLike,
    observed: ArrayLike,
    weights: ArrayLike | None = None,
    counts: ArrayLike | None = None,
) -> tuple[FloatArray, NDArray[np.bool_]]:
    """Durations and outcomes as arrays, refused with a clear error where an estimator cannot
    take them: a NaN, negative or infinite duration, weight or count, or lengths that differ."""
    t = np.asarray(durations, dtype=np.float64).reshape(-1)
    d = np.asarray(observed, dtype=bool).reshape(-1)
    sizes = {"durations": t.size, "observed": d.size}
    for name, extra in (("weights", weights), ("counts", counts)):
        if extra is not None:
            values = np.asarray(extra, dtype=np.float64).reshape(-1)
            sizes[name] = values.size
            _refuse_bad(name, values)
    if len(set(sizes.values())) > 1:
        told = ", ".join(f"{k} {v}" for k, v in sizes.items())
        raise InvalidDurationsError(f"durations and their outcomes differ in length: {told}")
    _refuse_bad("durations", t)
    return t, d


def duration_order(durations: FloatArray) -> NDArray[np.intp]:
    """The order of the durations, ties in their order (a stable sort): every estimator of one
    group of attempts reads them in it, so a caller that fits several to one group sorts once
    and hands each the order (`order=`)."""
    return np.argsort(durations, kind="stable")


def order_within(order: NDArray[np.intp], rows: NDArray[np.bool_]) -> NDArray[np.intp]:
    """The `duration_order` of the selected rows among themselves (indices into `x[rows]`),
    read off the order of all of them: the same as sorting them again."""
    return np.asarray((np.cumsum(rows) - 1)[order[rows[order]]], dtype=np.intp)


def effective_sample_size(weights: FloatArray, counts: ArrayLike | None = None) -> float:
    """Kish's effective sample size: how many equal-weight observations the weights are worth
    (with `counts`, each weight stands for that many observations of that weight)."""
    if counts is None:
        total = float(weights.sum())
        squares = float((weights**2).sum())
    else:
        c = np.asarray(counts, dtype=np.float64)
        total, squares = float(c @ weights), float(c @ weights**2)
    return total * total / squares if squares > 0 else 0.0


def observation_weights(
    size: int, weights: ArrayLike | None, counts: ArrayLike | None
) -> FloatArray:
    """The weight each row carries in a fit, scaled so that they sum to the effective sample
    size (counts in the variance stay honest): a row of `counts` stands for that many
    observations, each of its weight."""
    w = np.ones(size) if weights is None else np.asarray(weights, dtype=np.float64)
    if counts is None:
        return np.asarray(w * (effective_sample_size(w) / w.sum()), dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    total = c * w
    return np.asarray(total * (effective_sample_size(w, c) / total.sum()), dtype=np.float64)


@dataclass(frozen=True)
class KaplanMeier:
    """The product-limit estimate S(t) = P(duration > t).

    `times` are the distinct durations at which a completion was observed, `survival[i]` is
    S just after `times[i]`, `greenwood[i]` the running Greenwood sum for its variance. The
    estimate is defined up to `last_time`, the largest duration seen (completed or censored).
    Weights (for decaying older data) are rescaled to the effective sample size, so counts
    in the variance stay honest.
    """

    times: FloatArray
    survival: FloatArray
    greenwood: FloatArray
    last_time: float
    n: float

    @classmethod
    def fit(
        cls,
        durations: ArrayLike,
        observed: ArrayLike,
        weights: ArrayLike | None = None,
        counts: ArrayLike | None = None,
        order: NDArray[np.intp] | None = None,
    ) -> KaplanMeier:
        """The curve of `durations` (`counts`: how many attempts each row stands for; `order`:
        their `duration_order`, where the caller has it)."""
        t, d = checked_durations(durations, observed, weights, counts)
        if t.size == 0:
            raise ValueError("Kaplan-Meier needs at least one duration")
        w = observation_weights(t.size, weights, counts)
        order = duration_order(t) if order is None else order
        t, d, w = t[order], d[order], w[order]
        start = np.flatnonzero(np.concatenate(([True], t[1:] != t[:-1])))  # t is sorted
        unique = t[start]
        events = np.add.reduceat(w * d, start)
        leaving = np.add.reduceat(w, start)
        at_risk = w.sum() - np.concatenate(([0.0], np.cumsum(leaving)[:-1]))
        has_event = events > 0
        events, at_risk, unique = events[has_event], at_risk[has_event], unique[has_event]
        # Every attempt still at risk ends here when what is left is rounding in the running
        # sums (far below any attempt's weight), however they were summed (counts of the same
        # attempts sum them in another order).
        ends_all = at_risk - events <= 1e-9 * w.sum()
        hazard = np.where(ends_all, 1.0, np.minimum(events / at_risk, 1.0))
        survival = np.asarray(np.cumprod(1.0 - hazard), dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(ends_all, np.inf, events / (at_risk * (at_risk - events)))
        return cls(
            times=unique,
            survival=survival,
            greenwood=np.cumsum(terms),
            last_time=float(t[-1]),
            n=float(w.sum()),
        )

    def survival_at(self, t: float) -> float:
        """S(t); beyond `last_time` the estimate says nothing, and the last value is returned."""
        index = int(np.searchsorted(self.times, t, side="right")) - 1
        return 1.0 if index < 0 else float(self.survival[index])

    def quantile(self, q: float) -> float | None:
        """The smallest t with S(t) <= 1 - q, or None where the curve never gets that low."""
        return self._first_below(self.survival, q)

    def quantile_ci(self, q: float, level: float = 0.95) -> tuple[float | None, float | None]:
        """Confidence interval for the q-quantile from the Greenwood band of S (Brookmeyer-
        Crowley style): where the band's lower and upper edges cross 1 - q. The upper end is
        None when the band never gets that low (the data cannot bound it from above)."""
        z = NormalDist().inv_cdf(0.5 + level / 2)
        se = self.standard_error()
        return (
            self._first_below(self.survival - z * se, q),
            self._first_below(self.survival + z * se, q),
        )

    def standard_error(self) -> FloatArray:
        """Greenwood's standard error of each `survival` value. Where the curve drops to 0
        (every attempt still at risk ended there) the variance is infinite: so is the band,
        and it bounds nothing from above; another estimate must."""
        with np.errstate(invalid="ignore"):
            se = self.survival * np.sqrt(self.greenwood)
        return np.asarray(np.where(np.isnan(se), np.inf, se), dtype=np.float64)

    def band(self, level: float) -> tuple[FloatArray, FloatArray]:
        """Lower and upper edges of each `survival` value's confidence interval on the
        log(-log S) scale (Kalbfleisch-Prentice), which stays inside (0, 1) and does not
        understate the upper edge where few attempts remain beyond, as the plain Greenwood
        band does. Where S = 0 the band is [0, 1]: nothing there bounds it."""
        z = NormalDist().inv_cdf(0.5 + level / 2)
        s = self.survival
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_s = np.log(s)
            spread = z * np.sqrt(self.greenwood) / np.abs(log_s)
            low = s ** np.exp(spread)
            high = s ** np.exp(-spread)
        inside = (s > 0.0) & (s < 1.0) & np.isfinite(spread)
        low = np.where(inside, low, np.where(s >= 1.0, 1.0, 0.0))
        high = np.where(inside, high, 1.0)
        return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)

    def _first_below(self, curve: FloatArray, q: float) -> float | None:
        hits = np.nonzero(curve <= (1.0 - q) + 1e-12)[0]
        return float(self.times[hits[0]]) if hits.size else None
