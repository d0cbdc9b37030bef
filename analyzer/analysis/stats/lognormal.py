"""A lognormal fitted by maximum likelihood to right-censored durations: the tail past the data."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analyzer.analysis.stats.likelihood import (
    LOG_SQRT_2PI,
    MIN_DURATION_S,
    CensoredLogs,
    fit_location_scale,
)


@dataclass(frozen=True)
class LognormalFit:
    """log(duration) ~ Normal(mu, sigma), with the covariance of (mu, sigma) from the observed
    information, for delta-method confidence intervals of quantiles."""

    mu: float
    sigma: float
    covariance: tuple[tuple[float, float], tuple[float, float]]

    @classmethod
    def fit(
        cls,
        durations: ArrayLike,
        observed: ArrayLike,
        weights: ArrayLike | None = None,
        counts: ArrayLike | None = None,
        order: NDArray[np.intp] | None = None,
    ) -> LognormalFit:
        """Maximum likelihood over the attempts (weights, counts and order as in
        `CensoredLogs`), by Newton's method from the completed durations' log mean and
        spread."""
        data = CensoredLogs.of(durations, observed, weights, counts, order)
        mean, spread = data.moments()
        found = fit_location_scale(data, 0.0, mean, math.log(max(spread, 0.1)))
        covariance = found.covariance()
        if covariance is None:
            return cls(found.mu, found.sigma, ((math.inf, 0.0), (0.0, math.inf)))
        # from (mu, log sigma) to (mu, sigma): d sigma = sigma d log sigma
        jacobian = np.diag([1.0, found.sigma])
        (v_mu, c), (c_t, v_sigma) = (jacobian @ covariance @ jacobian).tolist()
        return cls(found.mu, found.sigma, ((v_mu, c), (c_t, v_sigma)))

    def quantile(self, q: float) -> float:
        return math.exp(self.mu + self.sigma * NormalDist().inv_cdf(q))

    def survival_at(self, t: float) -> float:
        if t <= 0:
            return 1.0
        from scipy import special

        return float(special.ndtr((self.mu - math.log(t)) / self.sigma))

    def survival_many(self, t: np.ndarray) -> np.ndarray:
        from scipy import special

        with np.errstate(divide="ignore"):
            z = (np.log(np.asarray(t, dtype=np.float64)) - self.mu) / self.sigma
        return np.asarray(special.ndtr(-z), dtype=np.float64)

    def conditional_quantile(self, q: float, start_s: float, start_survival: float) -> float | None:
        """The t with start_survival x P(X > t | X > start_s) = 1 - q: the quantile of a curve
        that is `start_survival` at `start_s` and follows this law beyond. None where the law
        puts (numerically) nothing past `start_s`."""
        from scipy import special

        z_start = (math.log(max(start_s, MIN_DURATION_S)) - self.mu) / self.sigma
        log_p = math.log1p(-q) - math.log(start_survival) + float(special.log_ndtr(-z_start))
        if log_p >= 0.0:
            return start_s
        z = -float(special.ndtri(math.exp(log_p)))
        return math.exp(self.mu + self.sigma * z) if math.isfinite(z) else None

    def _z(self, t: np.ndarray | float) -> np.ndarray:
        logs = np.log(np.maximum(np.asarray(t, dtype=np.float64), MIN_DURATION_S))
        return np.asarray((logs - self.mu) / self.sigma, dtype=np.float64)

    def log_conditional_survival(self, t: np.ndarray, start_s: float) -> np.ndarray:
        """log P(X > t | X > start_s) for t >= start_s, in log space so the far tail keeps
        its precision."""
        from scipy import special

        ratio = special.log_ndtr(-self._z(t)) - special.log_ndtr(-self._z(start_s))
        return np.asarray(np.minimum(ratio, 0.0), dtype=np.float64)

    def conditional_survival_bounds(
        self, t: np.ndarray, start_s: float, level: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """P(X > t | X > start_s) for t >= start_s, with its confidence band: the delta method
        on the log of that ratio, over the covariance of (mu, sigma). An unidentified fit
        gives the band [0, 1]."""
        from scipy import special

        z_level = NormalDist().inv_cdf(0.5 + level / 2)
        z_t, z_a = self._z(t), self._z(start_s)
        log_ratio = self.log_conditional_survival(t, start_s)
        # d log P(X > x) / d(mu, sigma) = h(z) / sigma * (1, z), h the normal's hazard
        h_t = np.exp(-0.5 * z_t**2 - LOG_SQRT_2PI - special.log_ndtr(-z_t))
        h_a = np.exp(-0.5 * z_a**2 - LOG_SQRT_2PI - special.log_ndtr(-z_a))
        g_mu = (h_t - h_a) / self.sigma
        g_sigma = (h_t * z_t - h_a * z_a) / self.sigma
        (v_mu, c), (_, v_sigma) = self.covariance
        if not (math.isfinite(v_mu) and math.isfinite(v_sigma)):
            spread = np.full_like(z_t, np.inf)
        else:
            variance = g_mu**2 * v_mu + 2 * g_mu * g_sigma * c + g_sigma**2 * v_sigma
            spread = z_level * np.sqrt(np.maximum(variance, 0.0))
        with np.errstate(invalid="ignore"):
            low = np.exp(log_ratio - spread)
            high = np.exp(np.minimum(log_ratio + spread, 0.0))
        return (
            np.nan_to_num(low, nan=0.0),
            np.exp(log_ratio),
            np.nan_to_num(high, nan=1.0),
        )

    def quantile_ci(self, q: float, level: float = 0.95) -> tuple[float, float]:
        """Delta method on log q = mu + z_q * sigma."""
        z_q = NormalDist().inv_cdf(q)
        z = NormalDist().inv_cdf(0.5 + level / 2)
        (v_mu, c), (_, v_sigma) = self.covariance
        variance = max(v_mu + z_q * z_q * v_sigma + 2 * z_q * c, 0.0)
        centre = self.mu + self.sigma * z_q
        spread = z * math.sqrt(variance)
        return math.exp(centre - spread), math.exp(centre + spread)
