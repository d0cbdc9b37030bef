"""The generalized gamma fitted to right-censored durations: how heavy, and how light, a tail
the data allow.

Prentice's parametrisation: log(duration) = mu + sigma * W, where W is standard normal at
shape 0 (the lognormal) and the log of a gamma variable otherwise: shape 1 is the Weibull, a
negative shape an upper tail heavier than any lognormal's. The shape's interval comes from its
profile likelihood (mu and sigma at their best for each shape): its lower edge is the heaviest
tail the attempts do not rule out, its upper edge the lightest. Where the lower edge lies above
0 the attempts rule the lognormal's tail out: the band may use the lighter shapes they allow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analyzer.analysis.stats.likelihood import (
    MIN_DURATION_S,
    CensoredLogs,
    LocationScale,
    fit_location_scale,
    log_survival_w,
    survival_terms,
)
from analyzer.analysis.stats.lognormal import LognormalFit

FloatArray = NDArray[np.float64]
# Attempts as the fits take them: durations, completed (else right-censored), weights, and how
# many attempts each row stands for (None: one).
Sample = tuple[FloatArray, NDArray[np.bool_], FloatArray, NDArray[np.int64] | None]
# Shapes past this describe tails no startup phase has (and make the gamma functions
# degenerate); the search stays inside.
MAX_ABS_SHAPE = 3.0
# The shape is searched, and its interval's edges found, to this precision.
SHAPE_TOLERANCE = 1e-3
# The band beyond the data is the envelope of the laws at this many shapes across the shape's
# interval (and its edges, the best shape and the lognormal's).
BAND_SHAPES = 9


def z_of(level: float) -> float:
    """The two-sided normal quantile of `level` (its square is chi2_1's)."""
    return NormalDist().inv_cdf(0.5 + level / 2)


@dataclass
class ShapeProfile:
    """The profile likelihood of the shape: for each shape asked, mu and log sigma at their
    best (Newton's method from the nearest shape already solved)."""

    data: CensoredLogs
    solved: dict[float, LocationScale] = field(default_factory=dict)

    def at(self, shape: float) -> LocationScale:
        found = self.solved.get(shape)
        if found is None:
            near = min(self.solved.values(), key=lambda s: abs(s.shape - shape))
            found = fit_location_scale(self.data, shape, near.mu, near.log_sigma)
            self.solved[shape] = found
        return found

    def nll(self, shape: float) -> float:
        return self.at(shape).nll


@dataclass(frozen=True)
class GeneralizedGammaFit:
    """(mu, sigma, shape) by maximum likelihood; `covariance`, that of (mu, log sigma) at this
    shape (None where the data do not pin them down); `profile`, the shape's profile
    likelihood, for its interval."""

    mu: float
    sigma: float
    shape: float
    covariance: FloatArray | None
    profile: ShapeProfile | None = field(default=None, repr=False, compare=False)

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
        """Maximum likelihood over the attempts (weights and counts as in `CensoredLogs`):
        the shape by Brent's method on its profile likelihood, which starts from the
        lognormal fit `start` (shape 0)."""
        from scipy import optimize

        data = CensoredLogs.of(durations, observed, weights, counts)
        profile = ShapeProfile(data)
        profile.solved[0.0] = fit_location_scale(data, 0.0, start.mu, math.log(start.sigma))
        found = optimize.minimize_scalar(
            profile.nll,
            bounds=(-MAX_ABS_SHAPE, MAX_ABS_SHAPE),
            method="bounded",
            options={"xatol": SHAPE_TOLERANCE},
        )
        best = min((profile.at(float(found.x)), profile.at(0.0)), key=lambda s: s.nll)
        return cls.at_shape(best, profile)

    @classmethod
    def at_shape(cls, found: LocationScale, profile: ShapeProfile | None) -> GeneralizedGammaFit:
        return cls(found.mu, found.sigma, found.shape, found.covariance(), profile)

    def shape_interval(self, level: float) -> tuple[float, float]:
        """The shapes whose profile likelihood lies within chi2_1(level) / 2 of the best: the
        likelihood-ratio interval, both edges (each at most `MAX_ABS_SHAPE` from 0: an edge
        there is one the attempts do not bound)."""
        if self.profile is None:
            return self.shape, self.shape
        from scipy import optimize

        limit = self.profile.nll(self.shape) + z_of(level) ** 2 / 2

        def above(shape: float) -> float:
            return self.profile.nll(shape) - limit if self.profile is not None else 0.0

        edges = []
        for end in (-MAX_ABS_SHAPE, MAX_ABS_SHAPE):
            if above(end) <= 0:
                edges.append(end)
            else:
                edges.append(float(optimize.brentq(above, end, self.shape, xtol=SHAPE_TOLERANCE)))
        return edges[0], edges[1]

    def heaviest_plausible(self, level: float) -> GeneralizedGammaFit | None:
        """The law at the lower edge of the shape's interval at `level`, mu and sigma at their
        best for that shape: the heaviest tail the attempts do not rule out; None where
        nothing bounds it (the interval reaches the heaviest shape searched)."""
        low, _ = self.shape_interval(level)
        if self.profile is None:
            return self
        if low <= -MAX_ABS_SHAPE:
            return None
        return self.at_shape(self.profile.at(low), self.profile)

    def conditional_band(
        self, t: FloatArray, start_s: float, level: float
    ) -> tuple[FloatArray, FloatArray] | None:
        """The band of P(X > t | X > start_s) over the laws the attempts do not rule out at
        `level`: shapes across the profile-likelihood interval, each with the likelihood-
        ratio budget the shape leaves (chi2_1(level) / 2 less its profile's excess) spent on
        mu and sigma (their quadratic approximation at that shape). At the best shape that
        is the delta-method band, at the interval's edges the law itself: one rule that
        credits a light tail where the attempts show one and keeps a heavy one where they
        cannot rule it out. None where nothing bounds the tail (the interval reaches the
        heaviest shape searched)."""
        low, high = self.shape_interval(level)
        if self.profile is None:
            return self.conditional_survival_bounds(t, start_s, z_of(level))
        if low <= -MAX_ABS_SHAPE:
            return None
        limit = self.profile.nll(self.shape) + z_of(level) ** 2 / 2
        shapes = {low, high, self.shape, *np.linspace(low, high, BAND_SHAPES).tolist()}
        # Where the best shape runs to the light end of the search the likelihood-ratio
        # interval does not hold (its chi2 law needs an optimum inside): a few attempts that
        # happen to end early look lighter than any law, so the lognormal's delta-method band
        # joins the envelope (in 4 of 15 samples of 30 Weibull attempts the interval left the
        # true shape out without it).
        at_light_end = self.shape >= MAX_ABS_SHAPE - 2 * SHAPE_TOLERANCE
        if low < 0.0 < high or at_light_end:
            shapes.add(0.0)
        lower, upper = np.ones_like(t), np.zeros_like(t)
        for shape in sorted(shapes):
            found = self.profile.at(shape)
            budget = max(limit - found.nll, 0.0)
            if shape == 0.0 and at_light_end:
                budget = z_of(level) ** 2 / 2
            law = self.at_shape(found, None)
            c_low, c_high = law.conditional_survival_bounds(t, start_s, math.sqrt(2 * budget))
            lower, upper = np.minimum(lower, c_low), np.maximum(upper, c_high)
        return lower, upper

    def _z(self, t: FloatArray | float) -> FloatArray:
        logs = np.log(np.maximum(np.asarray(t, dtype=np.float64), MIN_DURATION_S))
        return np.asarray((logs - self.mu) / self.sigma, dtype=np.float64)

    def log_conditional_survival(self, t: FloatArray, start_s: float) -> FloatArray:
        """log P(X > t | X > start_s) for t >= start_s."""
        ratio = log_survival_w(self._z(t), self.shape) - log_survival_w(
            self._z(np.array([start_s])), self.shape
        )
        return np.asarray(np.minimum(np.nan_to_num(ratio, nan=0.0), 0.0), dtype=np.float64)

    def conditional_survival_bounds(
        self, t: FloatArray, start_s: float, width: float
    ) -> tuple[FloatArray, FloatArray]:
        """The band of P(X > t | X > start_s) at this shape: the delta method on the log of
        its negative log (as Kalbfleisch and Prentice's band of the curve: it stays inside
        (0, 1) and keeps falling far into a light tail, where the log itself is far from
        linear in the parameters) over the covariance of (mu, log sigma), `width` standard
        errors either side; [0, 1] where that covariance is unknown."""
        z_t, z_a = self._z(t), self._z(np.array([start_s]))
        log_ratio = self.log_conditional_survival(t, start_s)
        if self.covariance is None:
            return np.zeros_like(log_ratio), np.ones_like(log_ratio)
        _, d_t, _ = survival_terms(z_t, self.shape)
        _, d_a, _ = survival_terms(z_a, self.shape)
        # d log S(x) / d(mu, log sigma) = d log S / dz * (-1 / sigma, -z)
        g_mu = -(d_t - d_a) / self.sigma
        g_log_sigma = -(d_t * z_t - d_a * z_a)
        c = self.covariance
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            variance = (
                g_mu**2 * c[0, 0] + 2 * g_mu * g_log_sigma * c[0, 1] + g_log_sigma**2 * c[1, 1]
            )
            spread = width * np.sqrt(np.maximum(variance, 0.0)) / np.abs(log_ratio)
            low = np.exp(log_ratio * np.exp(spread))
            high = np.exp(log_ratio * np.exp(-spread))
        low = np.where(np.isfinite(spread), low, 0.0)
        high = np.where(np.isfinite(spread), high, 1.0)
        at_start = log_ratio == 0.0
        low, high = np.where(at_start, 1.0, low), np.where(at_start, 1.0, high)
        return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
