"""The censored likelihood the tail fits share: log durations as location + scale x W, W standard
normal (the lognormal) or the log of a gamma variable (the generalized gamma, Prentice's
parametrisation), over distinct durations with their weights, with analytic derivatives in
location and log scale, searched by Newton's method.

Each evaluation visits the distinct completed log durations (to `LOG_RESOLUTION`) and the
distinct censoring points once: a state of a million attempts costs what one of a few thousand
does, and Newton's method needs a handful of evaluations, not the thousands a simplex does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analyzer.analysis.stats.survival import (
    checked_durations,
    observation_weights,
    order_within,
)

FloatArray = NDArray[np.float64]
# Durations of zero have no logarithm; anything under a millisecond is a millisecond.
MIN_DURATION_S = 1e-3
# Where every weighted duration is (nearly) the same, the likelihood grows without bound as
# sigma shrinks; a spread under 0.1 % in log terms is not searched.
MIN_SIGMA = 1e-3
# Under this |shape| the law is the lognormal to well within sampling error, and the gamma
# functions of shape 1 / shape^2 lose precision.
NORMAL_SHAPE = 1e-3
# Durations agreeing to 0.1 % (in log terms) count as one in the likelihood.
LOG_RESOLUTION = 1e-3
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
# Newton's method stops when a step moves location and log scale by less than this.
STEP_TOLERANCE = 1e-9
MAX_NEWTON_STEPS = 60


@dataclass(frozen=True)
class CensoredLogs:
    """Attempts as the likelihood takes them: distinct completed log durations and their
    weights, distinct censoring points and theirs. Weights are rescaled to the effective
    sample size (as in the Kaplan-Meier curve), so a fit's covariance stays honest under
    decay."""

    done: FloatArray
    done_weight: FloatArray
    cut: FloatArray
    cut_weight: FloatArray

    @classmethod
    def of(
        cls,
        durations: ArrayLike,
        observed: ArrayLike,
        weights: ArrayLike | None = None,
        counts: ArrayLike | None = None,
        order: NDArray[np.intp] | None = None,
    ) -> CensoredLogs:
        """`counts`: how many attempts each row stands for (None: one); `order`: the
        durations' `duration_order`, where the caller has it (else each part is sorted)."""
        t, done = checked_durations(durations, observed, weights, counts)
        if not done.any():
            raise ValueError("a fit to durations needs at least one completed duration")
        logs = np.log(np.maximum(t, MIN_DURATION_S))
        w = observation_weights(logs.size, weights, counts)
        done_at, done_weight = _distinct(
            logs[done], w[done], None if order is None else order_within(order, done)
        )
        cut_at, cut_weight = _distinct(
            logs[~done], w[~done], None if order is None else order_within(order, ~done)
        )
        return cls(done_at, done_weight, cut_at, cut_weight)

    @property
    def completed(self) -> float:
        return float(self.done_weight.sum())

    def moments(self) -> tuple[float, float]:
        """Weighted mean and standard deviation of the completed logs: a search's start."""
        mean = float(self.done_weight @ self.done) / self.completed
        spread = math.sqrt(float(self.done_weight @ (self.done - mean) ** 2) / self.completed)
        return mean, spread


def _distinct(
    logs: FloatArray, weights: FloatArray, order: NDArray[np.intp] | None = None
) -> tuple[FloatArray, FloatArray]:
    """Logs agreeing to `LOG_RESOLUTION` as one: their weighted mean (equal logs stay exact,
    and so do the weighted sums of the logs) and their total weight. `order`: the logs'
    sorting order where known (the bins are then read off it, not sorted for)."""
    bins = np.round(logs / LOG_RESOLUTION)
    inverse = _bin_numbers(bins, order)
    total = np.bincount(inverse, weights=weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(inverse, weights=weights * logs) / total
    # a bin of zero weight (fully decayed attempts) sits at its logs' plain mean
    plain = np.bincount(inverse, weights=logs) / np.bincount(inverse)
    at = np.where(total > 0, mean, plain)
    return np.asarray(at, dtype=np.float64), np.asarray(total, dtype=np.float64)


def _bin_numbers(bins: FloatArray, order: NDArray[np.intp] | None) -> NDArray[np.intp]:
    """Each value's place among the distinct values (`np.unique`'s inverse), from `order`
    (which sorts them) where given and it does: the same numbers without a sort."""
    if order is not None and bins.size:
        ranked = bins[order]
        if not (ranked[1:] < ranked[:-1]).any():
            inverse = np.empty(bins.size, dtype=np.intp)
            inverse[order] = np.cumsum(np.concatenate(([True], ranked[1:] != ranked[:-1]))) - 1
            return inverse
    return np.asarray(np.unique(bins, return_inverse=True)[1].reshape(-1), dtype=np.intp)


def _gamma_constant(shape: float) -> tuple[float, float]:
    """a = 1 / shape^2 and log |shape| + a log a - log Gamma(a), the density's constant."""
    from scipy import special

    a = 1.0 / shape**2
    return a, math.log(abs(shape)) + a * math.log(a) - float(special.gammaln(a))


def log_density_w(z: FloatArray, shape: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """log f_W(z) and its first two derivatives in z."""
    if abs(shape) < NORMAL_SHAPE:
        return -0.5 * z * z - LOG_SQRT_2PI, -z, np.full_like(z, -1.0)
    a, constant = _gamma_constant(shape)
    qz = np.minimum(shape * z, 700.0)
    e = np.exp(qz)
    return constant + a * (qz - e), (1.0 - e) / shape, -e


def log_survival_w(z: FloatArray, shape: float) -> FloatArray:
    """log P(W > z), kept finite far in the tail by the incomplete gamma's leading term."""
    from scipy import special

    if abs(shape) < NORMAL_SHAPE:
        return np.asarray(special.log_ndtr(-z), dtype=np.float64)
    a = 1.0 / shape**2
    qz = np.minimum(shape * z, 700.0)
    u = a * np.exp(qz)
    tail = special.gammaincc(a, u) if shape > 0 else special.gammainc(a, u)
    with np.errstate(divide="ignore"):
        if shape > 0:  # Q(a, u) ~ u^(a-1) e^-u / Gamma(a) for u >> a
            far = (a - 1.0) * np.log(u) - u - special.gammaln(a)
        else:  # P(a, u) ~ u^a e^-u / Gamma(a + 1) for u << 1
            far = a * np.log(u) - u - special.gammaln(a + 1.0)
        return np.asarray(np.where(tail > 1e-280, np.log(tail), far), dtype=np.float64)


def survival_terms(z: FloatArray, shape: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """log P(W > z) and its first two derivatives in z (through the hazard h = f / S:
    d log S = -h, d2 log S = -h (d log f + h))."""
    log_s = log_survival_w(z, shape)
    log_f, d_f, _ = log_density_w(z, shape)
    hazard = np.exp(np.minimum(log_f - log_s, 200.0))
    return log_s, -hazard, -hazard * (d_f + hazard)


@dataclass(frozen=True)
class LocationScale:
    """The best location and log scale at one shape: the negative log-likelihood there and
    its Hessian in (mu, log sigma)."""

    shape: float
    mu: float
    log_sigma: float
    nll: float
    hessian: FloatArray

    @property
    def sigma(self) -> float:
        return math.exp(self.log_sigma)

    def covariance(self) -> FloatArray | None:
        """The inverse Hessian: covariance of (mu, log sigma) at this shape; None where the
        data pin them down nowhere."""
        try:
            inverse = np.linalg.inv(self.hessian)
        except np.linalg.LinAlgError:
            return None
        if not np.all(np.isfinite(inverse)) or np.any(np.diag(inverse) <= 0):
            return None
        return np.asarray(inverse, dtype=np.float64)


def negative_log_likelihood(
    data: CensoredLogs, shape: float, mu: float, log_sigma: float
) -> tuple[float, FloatArray, FloatArray]:
    """-log L at (mu, log sigma, shape), its gradient and Hessian in (mu, log sigma); an
    infinite value where a trial step has left the numbers' range."""
    with np.errstate(over="ignore", invalid="ignore"):
        value, gradient, hessian = _negative_log_likelihood(data, shape, mu, log_sigma)
    if not (
        math.isfinite(value) and np.all(np.isfinite(gradient)) and np.all(np.isfinite(hessian))
    ):
        return math.inf, gradient, hessian
    return value, gradient, hessian


def _negative_log_likelihood(
    data: CensoredLogs, shape: float, mu: float, log_sigma: float
) -> tuple[float, FloatArray, FloatArray]:
    sigma = math.exp(log_sigma)
    z_done = (data.done - mu) / sigma
    z_cut = (data.cut - mu) / sigma
    log_f, a1, a2 = log_density_w(z_done, shape)
    log_s, b1, b2 = survival_terms(z_cut, shape)
    w, c = data.done_weight, data.cut_weight
    value = data.completed * log_sigma - float(w @ log_f) - float(c @ log_s)
    gradient = np.array(
        [
            (float(w @ a1) + float(c @ b1)) / sigma,
            data.completed + float(w @ (a1 * z_done)) + float(c @ (b1 * z_cut)),
        ]
    )
    h_mm = -(float(w @ a2) + float(c @ b2)) / sigma**2
    h_ms = -(float(w @ (a2 * z_done + a1)) + float(c @ (b2 * z_cut + b1))) / sigma
    h_ss = -(float(w @ (a2 * z_done**2 + a1 * z_done)) + float(c @ (b2 * z_cut**2 + b1 * z_cut)))
    return value, gradient, np.array([[h_mm, h_ms], [h_ms, h_ss]])


def fit_location_scale(
    data: CensoredLogs, shape: float, mu: float, log_sigma: float
) -> LocationScale:
    """Newton's method over (mu, log sigma) at `shape` from (mu, log_sigma), halving a step
    that does not lower the likelihood's negative (a gradient step where the Hessian is not
    positive definite)."""
    floor = math.log(MIN_SIGMA)
    x = np.array([mu, max(log_sigma, floor)])
    value, gradient, hessian = negative_log_likelihood(data, shape, *x)
    for _ in range(MAX_NEWTON_STEPS):
        try:
            step = -np.linalg.solve(hessian, gradient)
            if float(step @ gradient) >= 0 or not np.all(np.isfinite(step)):
                raise np.linalg.LinAlgError
        except np.linalg.LinAlgError:
            step = -gradient / max(float(np.abs(gradient).max()), 1.0)
        if x[1] <= floor and step[1] < 0 and hessian[0, 0] > 0:
            # sigma held at its floor: Newton's step in mu alone
            step = np.array([-gradient[0] / hessian[0, 0], 0.0])
        moved = False
        for _ in range(40):
            trial = x + step
            trial[1] = max(trial[1], floor)
            found = negative_log_likelihood(data, shape, *trial)
            if math.isfinite(found[0]) and found[0] <= value + 1e-12 * abs(value):
                moved = True
                break
            step = step / 2
        if not moved:
            break
        done = float(np.abs(trial - x).max()) < STEP_TOLERANCE
        x, (value, gradient, hessian) = trial, found
        if done:
            break
    return LocationScale(shape, float(x[0]), float(x[1]), value, hessian)
