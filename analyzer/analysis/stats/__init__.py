"""Numbers in, numbers out: survival estimates, the censored lognormal tail, the breaker model."""

from analyzer.analysis.stats.breaker import (
    at_least,
    burst_correlation,
    dispersion,
    episodes,
    lower_rate,
    rate_rule,
    run_false_opens,
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
    "burst_correlation",
    "dispersion",
    "effective_sample_size",
    "episodes",
    "lower_rate",
    "rate_rule",
    "run_false_opens",
    "upper_rate",
]
