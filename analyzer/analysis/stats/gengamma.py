"""The generalized gamma fitted to right-censored durations: how heavy a tail the data allow.

Prentice's parametrisation: log(duration) = mu + sigma * W, where W is standard normal at
shape 0 (the lognormal) and the log of a gamma variable otherwise: shape 1 is the Weibull, a
negative shape an upper tail heavier than any lognormal's. Fitted beside the lognormal, its
shape says whether the attempts could come from a heavier-tailed law; the lower edge of the
shape's confidence interval is the heaviest tail they do not rule out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special

from analyzer.analysis.stats.information import inverse_hessian
from analyzer.analysis.stats.lognormal import (
    MIN_DURATION_S,
    MIN_SIGMA,
    LognormalFit,
    censored_logs,
)

FloatArray = NDArray[np.float64]
# Attempts as the fits take them: durations, completed (else right-censored), weights, and how
# many attempts each row stands for (None: one).
Sample = tuple[FloatArray, NDArray[np.bool_], FloatArray, NDArray[np.int64] | None]
# Under this |shape| the law is the lognormal to well within sampling error, and the gamma
# functions of shape 1 / shape^2 lose precision.
NORMAL_SHAPE = 1e-3
# Shapes past this describe tails no startup phase has (and make the gamma functions
# degenerate); the search stays inside.
MAX_ABS_SHAPE = 3.0
# Completed durations are taken to 0.1 % (in log terms) for the likelihood.
LOG_RESOLUTION = 1e-3
# Central-difference steps for the Hessian, per parameter (mu, sigma, shape); the shape's
# step reaches past |shape| < NORMAL_SHAPE, where the lognormal stands in for the family.
HESSIAN_STEPS = np.array([1e-4, 1e-4, 2e-3])


def _log_survival_w(w: FloatArray, shape: float) -> FloatArray:
    """log P(W > w)."""
    if abs(shape) < NORMAL_SHAPE:
        return np.asarray(special.log_ndtr(-w), dtype=np.float64)
    a = 1.0 / shape**2
    u = a * np.exp(np.minimum(shape * w, 700.0))
    tail = special.gammaincc(a, u) if shape > 0 else special.gammainc(a, u)
    with np.errstate(divide="ignore"):
        return np.asarray(np.log(tail), dtype=np.float64)


def _log_density_w(w: FloatArray, shape: float) -> FloatArray:
    """log of W's density."""
    if abs(shape) < NORMAL_SHAPE:
        return np.asarray(-0.5 * w * w - 0.5 * math.log(2 * math.pi), dtype=np.float64)
    a = 1.0 / shape**2
    qw = shape * w
    constant = math.log(abs(shape)) + a * math.log(a) - float(special.gammaln(a))
    return np.asarray(constant + a * (qw - np.exp(qw)), dtype=np.float64)


@dataclass(frozen=True)
class GeneralizedGammaFit:
    """(mu, sigma, shape) by maximum likelihood, and their covariance from the observed
    information (None where the data do not pin them down)."""

    mu: float
    sigma: float
    shape: float
    covariance: FloatArray | None

    @classmethod
    def fit(
        cls,
        durations: ArrayLike,
        observed: ArrayLike,
        weights: ArrayLike | None = None,
        counts: ArrayLike | None = None,
        *,
        start: LognormalFit,
    ) -> GeneralizedGammaFit:
        """Maximum likelihood over the attempts (weights and counts as in `censored_logs`),
        searched from the lognormal fit `start` (shape 0)."""
        x_done, w_done, cut_at, cut_weight = censored_logs(durations, observed, weights, counts)
        n_done = float(w_done.sum())
        # Each evaluation visits every distinct completed duration: durations agreeing to
        # LOG_RESOLUTION count as one, so a state of a million attempts costs no more than
        # one of a few thousand.
        x_done, inverse = np.unique(np.round(x_done / LOG_RESOLUTION), return_inverse=True)
        x_done = x_done * LOG_RESOLUTION
        w_done = np.bincount(inverse, weights=w_done, minlength=x_done.size)

        def negative_log_likelihood(params: FloatArray) -> float:
            mu, sigma, shape = (float(p) for p in params)
            if sigma < MIN_SIGMA or abs(shape) > MAX_ABS_SHAPE:
                return math.inf
            exact = float(w_done @ _log_density_w((x_done - mu) / sigma, shape))
            censored = float(cut_weight @ _log_survival_w((cut_at - mu) / sigma, shape))
            value = n_done * math.log(sigma) - exact - censored
            return value if math.isfinite(value) else math.inf

        mu, sigma = start.mu, start.sigma
        simplex = np.array(
            [
                [mu, sigma, 0.05],
                [mu + 0.05 * sigma, sigma, -0.05],
                [mu, sigma * 1.1, -0.1],
                [mu - 0.05 * sigma, sigma * 0.9, 0.1],
            ]
        )
        result = optimize.minimize(
            negative_log_likelihood,
            simplex[0],
            method="Nelder-Mead",
            options={"xatol": 1e-5, "fatol": 1e-7, "maxiter": 4000, "initial_simplex": simplex},
        )
        x = np.asarray(result.x, dtype=np.float64)
        return cls(
            mu=float(x[0]),
            sigma=float(x[1]),
            shape=float(x[2]),
            covariance=inverse_hessian(negative_log_likelihood, x, HESSIAN_STEPS),
        )

    def log_conditional_survival(self, t: FloatArray, start_s: float) -> FloatArray:
        """log P(X > t | X > start_s) for t >= start_s."""
        points = np.concatenate((np.asarray(t, dtype=np.float64), [start_s]))
        logs = np.log(np.maximum(points, MIN_DURATION_S))
        found = _log_survival_w((logs - self.mu) / self.sigma, self.shape)
        with np.errstate(invalid="ignore"):
            ratio = found[:-1] - found[-1]
        return np.asarray(np.minimum(np.nan_to_num(ratio, nan=0.0), 0.0), dtype=np.float64)

    def heaviest_plausible(self, level: float) -> GeneralizedGammaFit | None:
        """The law at the lower edge of the shape's two-sided interval at `level` (the
        heaviest tail the attempts do not rule out), with mu and sigma moved along the
        likelihood ridge (their best fit given that shape, from the covariance); None where
        the shape is not identified. A fit that runs to the light end of the search (far
        lighter than the Weibull, such as evenly spread durations) is itself the answer: the
        attempts rule every heavier tail out."""
        if self.shape >= MAX_ABS_SHAPE - 2 * HESSIAN_STEPS[2]:
            return self
        if self.covariance is None:
            return None
        z = NormalDist().inv_cdf(0.5 + level / 2)
        column = self.covariance[:, 2]
        mu, sigma, shape = np.array([self.mu, self.sigma, self.shape]) - z * column / math.sqrt(
            column[2]
        )
        return replace(
            self,
            mu=float(mu),
            sigma=max(float(sigma), MIN_SIGMA),
            shape=max(float(shape), -MAX_ABS_SHAPE),
        )
