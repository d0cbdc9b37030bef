"""Next week's strained share per hour of the week, and the backtest that decides whether it is
shown: a seasonal model that pools neighbouring hours and past weeks (weights decaying with
age), against the seasonal-naive forecast (same hour last week) and the flat mean. Numbers in,
numbers out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analyzer.capacity.when import HOURS_A_WEEK, Hours

# Weight of an hour's neighbours (the hour before and after, round the week) beside its own.
NEIGHBOUR_WEIGHT = 0.5
# A week's weight halves with each HALF_LIFE_WEEKS of age.
HALF_LIFE_WEEKS = 3.0
# The band: these quantiles of the pooled hours, weighted as the forecast weighs them.
BAND = (0.1, 0.9)
# Weeks held out for the backtest (at most), each forecast from the weeks before it; at least
# MIN_TRAINING_WEEKS stay before the first one.
MAX_HELD_OUT_WEEKS = 4
MIN_TRAINING_WEEKS = 2


@dataclass(frozen=True)
class SeasonalForecast:
    """A share per hour of the week (NaN where no history) and its band."""

    share: NDArray[np.float64]
    low: NDArray[np.float64]
    high: NDArray[np.float64]


def seasonal_forecast(
    share: NDArray[np.float64], hours: Hours, *, after_age: int = -1
) -> SeasonalForecast:
    """The week after the hours older than `after_age` weeks (-1: all of them): each hour of the
    week pools itself and its two neighbours over the past weeks, a week's weight halving every
    HALF_LIFE_WEEKS of age counted back from the week forecast."""
    used = (hours.age_weeks > after_age) & ~np.isnan(share)
    age = hours.age_weeks[used] - after_age - 1
    y = share[used]
    decay = 0.5 ** (age / HALF_LIFE_WEEKS)
    mean = np.full(HOURS_A_WEEK, np.nan)
    low, high = mean.copy(), mean.copy()
    by_hour = [np.flatnonzero(hours.hour_of_week[used] == h) for h in range(HOURS_A_WEEK)]
    for h in range(HOURS_A_WEEK):
        pools = [
            (by_hour[h], 1.0),
            (by_hour[(h - 1) % HOURS_A_WEEK], NEIGHBOUR_WEIGHT),
            (by_hour[(h + 1) % HOURS_A_WEEK], NEIGHBOUR_WEIGHT),
        ]
        index = np.concatenate([p for p, _ in pools])
        if len(index) == 0:
            continue
        weight = np.concatenate([decay[p] * w for p, w in pools])
        values = y[index]
        mean[h] = float(values @ weight / weight.sum())
        low[h], high[h] = _weighted_quantiles(values, weight, BAND)
    return SeasonalForecast(mean, low, high)


def _weighted_quantiles(
    values: NDArray[np.float64], weight: NDArray[np.float64], qs: tuple[float, float]
) -> tuple[float, float]:
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weight[order]) / weight.sum()
    last = len(order) - 1
    picked = [values[order][min(int(np.searchsorted(cumulative, q)), last)] for q in qs]
    return float(picked[0]), float(picked[1])


@dataclass(frozen=True)
class Backtest:
    """Root mean squared error of each method over the held-out weeks' known hours, and the
    verdicts: the forecast is shown only where it beats both; a weekly pattern is claimed only
    where the seasonal model beats the flat mean."""

    held_out_weeks: int
    hours_scored: int
    seasonal_rmse: float | None
    seasonal_naive_rmse: float | None
    flat_mean_rmse: float | None

    @property
    def weekly_pattern(self) -> bool:
        return (
            self.seasonal_rmse is not None
            and self.flat_mean_rmse is not None
            and self.seasonal_rmse < self.flat_mean_rmse
        )

    @property
    def beats_both(self) -> bool:
        return (
            self.weekly_pattern
            and self.seasonal_naive_rmse is not None
            and self.seasonal_rmse is not None
            and self.seasonal_rmse < self.seasonal_naive_rmse
        )

    @property
    def gain_over_seasonal_naive(self) -> float | None:
        """1 - seasonal / seasonal-naive error: 0.2 is an error 20 % lower."""
        if self.seasonal_rmse is None or not self.seasonal_naive_rmse:
            return None
        return 1.0 - self.seasonal_rmse / self.seasonal_naive_rmse


def backtest(share: NDArray[np.float64], hours: Hours) -> Backtest:
    """The last weeks held out one at a time (up to MAX_HELD_OUT_WEEKS, leaving at least
    MIN_TRAINING_WEEKS whole weeks before them), each forecast from the weeks before it only."""
    known = ~np.isnan(share)
    per_week = np.bincount(hours.age_weeks[known], minlength=1) if len(share) else np.zeros(0)
    # a week counts when at least half its hours are known
    whole_weeks = int(np.sum(per_week >= HOURS_A_WEEK // 2))
    held_out = min(MAX_HELD_OUT_WEEKS, whole_weeks - MIN_TRAINING_WEEKS)
    if held_out < 1:
        return Backtest(0, 0, None, None, None)
    errors: dict[str, list[NDArray[np.float64]]] = {"seasonal": [], "naive": [], "flat": []}
    for age in range(held_out):
        week = hours.age_weeks == age
        actual = np.full(HOURS_A_WEEK, np.nan)
        actual[hours.hour_of_week[week]] = share[week]
        before = hours.age_weeks == age + 1
        naive = np.full(HOURS_A_WEEK, np.nan)
        naive[hours.hour_of_week[before]] = share[before]
        training = share[(hours.age_weeks > age) & ~np.isnan(share)]
        flat = np.full(HOURS_A_WEEK, training.mean() if len(training) else np.nan)
        seasonal = seasonal_forecast(share, hours, after_age=age).share
        scored = ~(np.isnan(actual) | np.isnan(naive) | np.isnan(seasonal))
        errors["seasonal"].append(((seasonal - actual) ** 2)[scored])
        errors["naive"].append(((naive - actual) ** 2)[scored])
        errors["flat"].append(((flat - actual) ** 2)[scored])
    pooled = {name: np.concatenate(parts) for name, parts in errors.items()}
    scored_hours = len(pooled["seasonal"])
    if scored_hours == 0:
        return Backtest(held_out, 0, None, None, None)
    return Backtest(
        held_out_weeks=held_out,
        hours_scored=scored_hours,
        seasonal_rmse=float(np.sqrt(pooled["seasonal"].mean())),
        seasonal_naive_rmse=float(np.sqrt(pooled["naive"].mean())),
        flat_mean_rmse=float(np.sqrt(pooled["flat"].mean())),
    )
