"""The statistics against hand-computed answers and against known laws."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from analyzer.analysis.estimate import estimate_durations
from analyzer.analysis.stats import (
    GeneralizedGammaFit,
    KaplanMeier,
    LognormalFit,
    burst_correlation,
    dispersion,
    run_false_opens,
)
from analyzer.analysis.stats.survival import InvalidDurationsError
from analyzer.errors import AnalyzerError
from analyzer.simulate import PHASE3_LAWS, WeibullLaw, draw_attempts


def test_kaplan_meier_by_hand() -> None:
    # t:        1    2    2(c) 3    4(c)
    # at risk:  5    4         2
    # S:        4/5  4/5*3/4   0.6*1/2
    km = KaplanMeier.fit([1, 2, 2, 3, 4], [True, True, False, True, False])
    assert km.times.tolist() == [1.0, 2.0, 3.0]
    assert km.survival.tolist() == pytest.approx([0.8, 0.6, 0.3])
    assert km.greenwood.tolist() == pytest.approx(
        [1 / 20, 1 / 20 + 1 / 12, 1 / 20 + 1 / 12 + 1 / 2]
    )
    assert km.last_time == 4.0
    assert km.survival_at(0.5) == 1.0 and km.survival_at(2.5) == pytest.approx(0.6)
    assert km.quantile(0.5) == 3.0
    assert km.quantile(0.8) is None  # S never gets to 0.2: censored at 4


def test_kaplan_meier_without_censoring_is_the_empirical_distribution() -> None:
    data = np.arange(1.0, 101.0)
    km = KaplanMeier.fit(data, np.ones(100, dtype=bool))
    assert km.quantile(0.5) == 50.0 and km.quantile(0.99) == 99.0


def test_weights_count_as_their_effective_sample_size() -> None:
    data = np.array([1.0, 2.0, 3.0, 4.0])
    done = np.ones(4, dtype=bool)
    equal = KaplanMeier.fit(data, done, np.full(4, 0.25))
    assert equal.survival.tolist() == pytest.approx(KaplanMeier.fit(data, done).survival.tolist())
    tilted = KaplanMeier.fit(data, done, np.array([1.0, 1.0, 1.0, 3.0]))
    assert tilted.survival[0] == pytest.approx(5 / 6)


def test_lognormal_fit_recovers_its_law_through_censoring() -> None:
    rng = np.random.default_rng(3)
    truth = rng.lognormal(math.log(28.0), 0.35, 5000)
    shown = np.minimum(truth, 20.0)  # a static 20 s timeout cuts most of them
    fit = LognormalFit.fit(shown, truth <= 20.0)
    assert fit.mu == pytest.approx(math.log(28.0), abs=0.02)
    assert fit.sigma == pytest.approx(0.35, abs=0.02)
    low, high = fit.quantile_ci(0.99)
    assert low < PHASE3_LAWS["pressure"].quantile(0.99) < high


# A p99 from a few thousand durations carries a few per cent of sampling error; 8,000 attempts
# (4,000 under each timeout) keep it well inside the 10 % goal.
ATTEMPTS = 8000
SEEDS = {"healthy": 101, "scaling": 102, "pressure": 103, "critical": 104}


def _attempts(law_state: str, n: int, rng: np.random.Generator, timeouts: list[float]):
    """Attempts of one VPC state: durations from its law, cut at the timeout in force, and 3 %
    struck by an error at a time independent of the duration (censored too)."""
    law = PHASE3_LAWS[law_state]
    truth = rng.lognormal(math.log(law.median_s), law.sigma, n)
    cut = np.array([timeouts[i * len(timeouts) // n] for i in range(n)])
    strikes = np.where(rng.random(n) < 0.03, rng.uniform(0, 2 * law.median_s, n), np.inf)
    stopped = np.minimum(np.minimum(truth, cut), strikes)
    observed = truth <= np.minimum(cut, strikes)
    return stopped, observed


@pytest.mark.parametrize("state", ["healthy", "scaling", "pressure", "critical"])
def test_identifiable_quantiles_are_within_ten_percent(state: str) -> None:
    """Half the attempts ran under the old 20 s timeout, half under 75 s."""
    rng = np.random.default_rng(SEEDS[state])
    durations, observed = _attempts(state, ATTEMPTS, rng, [20.0, 75.0])
    estimate = estimate_durations(durations, observed, min_attempts=20)
    law = PHASE3_LAWS[state]
    for q in (0.95, 0.99):
        value, method = estimate.quantile(q)
        truth = law.quantile(q)
        assert value is not None
        assert abs(value - truth) / truth < 0.10, (state, q, value, truth, method)
        # Beyond every timeout only the fit reaches it, and it says so.
        assert method == ("lognormal-tail" if truth > 75.0 else "kaplan-meier")


@pytest.mark.parametrize("state", ["pressure", "critical"])
def test_plain_percentiles_of_the_same_data_do_worse(state: str) -> None:
    """Where the old timeout cuts many attempts, percentiles of the durations as logged (cut
    ones at their timeout) and of the completed ones alone both understate the slow tail."""
    rng = np.random.default_rng(SEEDS[state])
    durations, observed = _attempts(state, ATTEMPTS, rng, [20.0, 75.0])
    estimate = estimate_durations(durations, observed, min_attempts=20)
    for q in (0.95, 0.99):
        truth = PHASE3_LAWS[state].quantile(q)
        value, _ = estimate.quantile(q)
        assert value is not None
        ours = abs(value - truth) / truth
        for plain in (
            np.percentile(durations, 100 * q),
            np.percentile(durations[observed], 100 * q),
        ):
            assert plain < truth
            assert abs(plain - truth) / truth > ours, (state, q, plain, value, truth)


def test_quantiles_hidden_by_the_old_timeout_are_flagged_extrapolated() -> None:
    rng = np.random.default_rng(7)
    durations, observed = _attempts("pressure", 3000, rng, [20.0])
    estimate = estimate_durations(durations, observed, min_attempts=20)
    law = PHASE3_LAWS["pressure"]
    for q in (0.5, 0.9, 0.95, 0.99):  # median 28 s: every one lies beyond 20 s
        value, method = estimate.quantile(q)
        assert method == "lognormal-tail"
        assert value == pytest.approx(law.quantile(q), rel=0.10)
        plain = float(np.percentile(durations, 100 * q))  # durations including the cut ones
        assert plain <= 20.0 < law.quantile(q)


def test_generalized_gamma_contains_the_weibull_and_the_lognormal() -> None:
    """Shape 1 is the Weibull of shape 1 / sigma (scale e^mu); shape near 0 the lognormal."""
    t = np.array([15.0, 30.0, 60.0])
    weibull = WeibullLaw(20.0, 1.5)
    at_one = GeneralizedGammaFit(math.log(20.0), 1 / 1.5, 1.0, None)
    at_zero = GeneralizedGammaFit(math.log(28.0), 0.35, 0.002, None)
    lognormal = PHASE3_LAWS["pressure"]
    for fit, law in ((at_one, weibull), (at_zero, lognormal)):
        given = np.exp(fit.log_conditional_survival(t, 10.0))
        truth = [law.survival(x) / law.survival(10.0) for x in t]
        assert given.tolist() == pytest.approx(truth, rel=0.02)


@pytest.mark.parametrize(
    "law, shape",
    [(PHASE3_LAWS["scaling"], 0.0), (WeibullLaw(20.0, 1.5), 1.0)],
    ids=["lognormal", "weibull"],
)
def test_the_tail_shape_is_found_and_its_lower_edge_covers_it(law: object, shape: float) -> None:
    """Over 40 seeds of 200 attempts (3 % struck by errors, cut at 240 s) the fitted shape
    centres on the law's, and the lower edge of its 95 % interval lies below it in at least
    nine seeds of ten (it bounds how heavy the tail can be)."""
    fits = []
    for seed in range(40):
        a = draw_attempts(law, 200, np.random.default_rng(seed), timeouts_s=(240.0,))  # type: ignore[arg-type]
        start = LognormalFit.fit(a.duration_s, a.observed)
        fits.append(GeneralizedGammaFit.fit(a.duration_s, a.observed, start=start))
    assert abs(float(np.median([f.shape for f in fits])) - shape) < 0.1
    edges = [f.heaviest_plausible(0.95) for f in fits]
    assert np.mean([e is not None and e.shape <= shape for e in edges]) >= 0.9


def test_evenly_spread_durations_rule_heavier_tails_out() -> None:
    """Durations 1 to 40 s: the fit runs to the light end of the search, and the heaviest
    plausible law is lighter than the Weibull (its shape's interval lies above 1), not an
    unbounded tail."""
    t = np.arange(1.0, 41.0)
    done = np.ones(40, dtype=bool)
    fit = GeneralizedGammaFit.fit(t, done, start=LognormalFit.fit(t, done))
    heaviest = fit.heaviest_plausible(0.95)
    assert fit.shape > 1.0 and heaviest is not None and heaviest.shape > 1.0


@pytest.mark.parametrize("bad", [math.nan, -1.0, math.inf], ids=["nan", "negative", "infinite"])
def test_estimators_refuse_durations_they_cannot_take(bad: float) -> None:
    """A NaN, negative or infinite duration (or weight, or count) is refused with one clear
    error naming what and where, by every estimator, never fitted silently."""
    t = np.array([1.0, 2.0, bad, 4.0, 5.0, 6.0])
    done = np.ones(t.size, dtype=bool)
    fits = (
        lambda: KaplanMeier.fit(t, done),
        lambda: LognormalFit.fit(t, done),
        lambda: GeneralizedGammaFit.fit(t, done, start=LognormalFit(1.0, 1.0, ((1, 0), (0, 1)))),
        lambda: estimate_durations(t, done, min_attempts=1),
    )
    for fit in fits:
        with pytest.raises(InvalidDurationsError, match=r"durations must be finite .* row 2"):
            fit()
    good = np.arange(1.0, 7.0)
    with pytest.raises(InvalidDurationsError, match="weights must be finite"):
        KaplanMeier.fit(good, done, weights=t)
    with pytest.raises(InvalidDurationsError, match="counts must be finite"):
        LognormalFit.fit(good, done, counts=t)
    with pytest.raises(InvalidDurationsError, match="differ in length"):
        KaplanMeier.fit(good, done[:3])
    assert isinstance(InvalidDurationsError("x"), AnalyzerError)


def test_too_few_attempts_give_no_number() -> None:
    estimate = estimate_durations(np.array([1.0, 2.0]), np.array([True, True]), min_attempts=20)
    assert estimate.quantile(0.99) == (None, "insufficient-data")
    assert estimate.survival_at(5.0) is None


def failure_streaks(failed: Any) -> list[int]:
    """Lengths of the runs of consecutive failures, in order: counted off the sequence, the
    truth the formula is checked against."""
    flags = np.asarray(failed, dtype=np.int8)
    edges = np.diff(np.concatenate(([0], flags, [0])))
    return [int(n) for n in np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)]


def test_false_trip_formula_matches_simulated_bernoulli_sequences() -> None:
    rng = np.random.default_rng(11)
    p, calls, k = 0.2, 2000, 3
    trips = []
    for _ in range(400):
        failed = rng.random(calls) < p
        # a trip starts where k failures in a row begin after a success (or at the start)
        runs = failure_streaks(failed)
        trips.append(sum(1 for r in runs if r >= k))
    expected = run_false_opens(k, p, 0.0, calls)
    assert expected == pytest.approx(calls * (1 - p) * p**k)
    assert np.mean(trips) == pytest.approx(expected, rel=0.05)


def markov_failures(calls: int, rate: float, rho: float, rng: np.random.Generator) -> Any:
    """Calls failing `rate` of the time in a Markov chain of lag-one correlation `rho`: runs of
    successes and of failures of geometric lengths, alternating (the chain's own runs)."""
    start, go_on = rate * (1 - rho), rate + rho * (1 - rate)
    pairs = int(calls * start * 1.5) + 20
    lengths = np.empty(2 * pairs, dtype=np.int64)
    lengths[0::2] = rng.geometric(start, pairs)
    lengths[1::2] = rng.geometric(1 - go_on, pairs)
    failed = np.repeat(np.tile([False, True], pairs), lengths)
    assert failed.size >= calls
    return failed[:calls]


def test_runs_in_bursts_match_simulated_markov_chains() -> None:
    rng = np.random.default_rng(12)
    p, rho, calls, k = 0.05, 0.6, 4000, 4
    trips = [
        sum(1 for r in failure_streaks(markov_failures(calls, p, rho, rng)) if r >= k)
        for _ in range(150)
    ]
    expected = run_false_opens(k, p, rho, calls)
    assert np.mean(trips) == pytest.approx(expected, rel=0.1)
    # bursts make long runs far likelier than independent failures at the same rate
    assert expected > 20 * run_false_opens(k, p, 0.0, calls)


@pytest.mark.parametrize(("rho", "window"), [(0.0, 60), (0.5, 60), (0.7, 6), (0.7, 600)])
def test_the_burst_correlation_is_read_back_from_windows_failure_counts(
    rho: float, window: int
) -> None:
    """Windows of `window` calls (12,000 calls at least) of known Markov chains, 30 seeds:
    the dispersion's upper bound gives a correlation at or over the truth in most seeds, and
    its point estimate one near the truth in the median."""
    found, covered = [], []
    windows = max(400, 12_000 // window)
    for seed in range(30):
        rng = np.random.default_rng(300 + seed)
        failed = markov_failures(window * windows, 0.02, rho, rng).reshape(windows, window)
        calls = np.full(windows, float(window))
        index, upper = dispersion(calls, failed.sum(axis=1).astype(float), 0.975)
        assert 1.0 <= index <= upper
        found.append(burst_correlation(index, calls))
        covered.append(burst_correlation(upper, calls) >= rho - 1e-9)
    assert np.mean(covered) >= 0.9
    assert float(np.median(found)) == pytest.approx(rho, abs=0.08)


def test_streaks_by_hand() -> None:
    failed = [False, True, True, False, True, False, True, True, True]
    assert failure_streaks(failed) == [2, 1, 3]


def test_one_sort_serves_every_estimator_to_the_bit() -> None:
    """A group's duration order, handed to the estimators, gives what each finds sorting on
    its own: the subsets' orders, the likelihood's bins (`np.unique`'s) and the fits."""
    from analyzer.analysis.stats.likelihood import CensoredLogs, _bin_numbers
    from analyzer.analysis.stats.survival import duration_order, order_within

    rng = np.random.default_rng(7)
    # ties (rounded durations), zeros and durations a bin apart
    t = np.round(rng.lognormal(2.0, 0.8, 3000), 1)
    t[:50] = 0.0
    d = rng.random(t.size) < 0.8
    order = duration_order(t)
    for rows in (d, ~d):
        assert np.array_equal(order_within(order, rows), np.argsort(t[rows], kind="stable"))
    bins = np.round(np.log(np.maximum(t, 1e-3)) / 1e-3)
    assert np.array_equal(_bin_numbers(bins, order), np.unique(bins, return_inverse=True)[1])
    # an order that does not sort the bins is not trusted
    shuffled = rng.permutation(t.size)
    assert np.array_equal(_bin_numbers(bins, shuffled), np.unique(bins, return_inverse=True)[1])
    w = rng.random(t.size) + 0.5
    for ours, theirs in (
        (CensoredLogs.of(t, d, w, order=order), CensoredLogs.of(t, d, w)),
        (KaplanMeier.fit(t, d, w, order=order), KaplanMeier.fit(t, d, w)),
    ):
        for name in vars(theirs):
            assert np.array_equal(getattr(ours, name), getattr(theirs, name)), name
    assert LognormalFit.fit(t, d, w, order=order) == LognormalFit.fit(t, d, w)
