"""Numbers in, numbers out: survival estimates, the censored lognormal tail, the breaker model."""

from analyzer.analysis.stats.breaker import (
    at_least,
    episodes,
    expected_false_trips,
    failure_threshold,
    lower_rate,
    rate_rule,
    upper_rate,
)
from analyzer.analysis.stats.gengamma import GeneralizedGammaFit, Sample
from analyzer.analysis.stats.joined import JoinedCurve
from analyzer.analysis.stats.lognormal import LognormalFit
from analyzer.analysis.stats.survival import KaplanMeier, effective_sample_size

__all__ = [
    "GeneralizedGammaFit",
    "JoinedCurve",
    "KaplanMeier",
    "LognormalFit",
    "Sample",
    "at_least",
    "effective_sample_size",
    "episodes",
    "expected_false_trips",
    "failure_threshold",
    "lower_rate",
    "rate_rule",
    "upper_rate",
]
