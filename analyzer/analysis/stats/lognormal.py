"""A lognormal fitted by maximum likelihood to right-censored durations: the tail past the data."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special, stats

from analyzer.analysis.stats.information import inverse_hessian
from analyzer.analysis.stats.survival import observation_weights

# Durations of zero have no logarithm; anything under a millisecond is a millisecond.
MIN_DURATION_S = 1e-3
# Where every weighted duration is (nearly) the same, the likelihood grows without bound as
# sigma shrinks; a spread under 0.1 % in log terms is not searched.
MIN_SIGMA = 1e-3


def censored_logs(
    durations: ArrayLike,
    observed: ArrayLike,
    weights: ArrayLike | None,
    counts: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Attempts as a likelihood over log durations takes them: the completed ones' logs and
    weights, and the distinct censoring points with their total weight (`counts`: how many
    attempts each row stands for). Weights are rescaled to their effective sample size (as in
    the Kaplan-Meier curve), so a fit's covariance stays honest under decay."""
    logs = np.log(np.maximum(np.asarray(durations, dtype=np.float64), MIN_DURATION_S))
    done = np.asarray(observed, dtype=bool)
    w = observation_weights(logs.size, weights, counts)
    if not done.any():
        raise ValueError("a fit to durations needs at least one completed duration")
    cut_at, inverse = np.unique(logs[~done], return_inverse=True)
    cut_weight = np.bincount(inverse, weights=w[~done], minlength=cut_at.size)
    return logs[done], w[done], cut_at, cut_weight


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
    ) -> LognormalFit:
        """Maximum likelihood over the attempts (weights and counts as in `censored_logs`)."""
        x_done, w_done, cut_at, cut_weight = censored_logs(durations, observed, weights, counts)
        # Exact durations enter the likelihood only through three weighted sums; censored ones
        # through their distinct values (timeouts take few). Each evaluation is then cheap
        # however many attempts there are.
        n_done, s1, s2 = float(w_done.sum()), float(w_done @ x_done), float(w_done @ x_done**2)

        def negative_log_likelihood(params: np.ndarray) -> float:
            mu, sigma = float(params[0]), float(params[1])
            if sigma < MIN_SIGMA:
                return math.inf
            exact = 0.5 * (s2 - 2 * mu * s1 + mu * mu * n_done) / sigma**2 + n_done * math.log(
                sigma
            )
            censored = float(cut_weight @ special.log_ndtr((mu - cut_at) / sigma))  # log P(X > cut)
            return exact - censored

        if counts is None:
            start = np.array([x_done.mean(), max(float(x_done.std()), 0.1)])
        else:  # the same start as over the attempts one by one
            c = np.asarray(counts, dtype=np.float64)[np.asarray(observed, dtype=bool)]
            mean = float(c @ x_done) / float(c.sum())
            spread = math.sqrt(float(c @ (x_done - mean) ** 2) / float(c.sum()))
            start = np.array([mean, max(spread, 0.1)])
        result = optimize.minimize(
            negative_log_likelihood,
            start,
            method="Nelder-Mead",
            options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 4000},
        )
        mu, sigma = float(result.x[0]), float(result.x[1])
        x = np.array([mu, sigma])
        found = inverse_hessian(negative_log_likelihood, x, np.maximum(np.abs(x) * 1e-4, 1e-5))
        if found is None:
            return cls(mu=mu, sigma=sigma, covariance=((math.inf, 0.0), (0.0, math.inf)))
        (v_mu, c), (c_t, v_sigma) = found.tolist()
        return cls(mu=mu, sigma=sigma, covariance=((v_mu, c), (c_t, v_sigma)))

    def quantile(self, q: float) -> float:
        return math.exp(self.mu + self.sigma * NormalDist().inv_cdf(q))

    def survival_at(self, t: float) -> float:
        if t <= 0:
            return 1.0
        return float(stats.norm.sf((math.log(t) - self.mu) / self.sigma))

    def survival_many(self, t: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            z = (np.log(np.asarray(t, dtype=np.float64)) - self.mu) / self.sigma
        return np.asarray(stats.norm.sf(z), dtype=np.float64)

    def conditional_quantile(self, q: float, start_s: float, start_survival: float) -> float | None:
        """The t with start_survival x P(X > t | X > start_s) = 1 - q: the quantile of a curve
        that is `start_survival` at `start_s` and follows this law beyond. None where the law
        puts (numerically) nothing past `start_s`."""
        z_start = (math.log(max(start_s, MIN_DURATION_S)) - self.mu) / self.sigma
        log_p = math.log1p(-q) - math.log(start_survival) + float(special.log_ndtr(-z_start))
        if log_p >= 0.0:
            return start_s
        z = float(stats.norm.isf(math.exp(log_p)))
        return math.exp(self.mu + self.sigma * z) if math.isfinite(z) else None

    def _z(self, t: np.ndarray | float) -> np.ndarray:
        logs = np.log(np.maximum(np.asarray(t, dtype=np.float64), MIN_DURATION_S))
        return np.asarray((logs - self.mu) / self.sigma, dtype=np.float64)

    def log_conditional_survival(self, t: np.ndarray, start_s: float) -> np.ndarray:
        """log P(X > t | X > start_s) for t >= start_s, in log space so the far tail keeps
        its precision."""
        ratio = special.log_ndtr(-self._z(t)) - special.log_ndtr(-self._z(start_s))
        return np.asarray(np.minimum(ratio, 0.0), dtype=np.float64)

    def conditional_survival_bounds(
        self, t: np.ndarray, start_s: float, level: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """P(X > t | X > start_s) for t >= start_s, with its confidence band: the delta method
        on the log of that ratio, over the covariance of (mu, sigma). An unidentified fit
        gives the band [0, 1]."""
        z_level = NormalDist().inv_cdf(0.5 + level / 2)
        z_t, z_a = self._z(t), self._z(start_s)
        log_ratio = self.log_conditional_survival(t, start_s)
        # d log P(X > x) / d(mu, sigma) = h(z) / sigma * (1, z), h the normal's hazard
        h_t = np.exp(stats.norm.logpdf(z_t) - special.log_ndtr(-z_t))
        h_a = np.exp(stats.norm.logpdf(z_a) - special.log_ndtr(-z_a))
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
