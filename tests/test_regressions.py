"""Regressions by revision: the log-rank test and the BH adjustment against scipy, and the
whole comparison judged over seeds of fleets drawn from known laws."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analyzer.analysis.regressions import FDR, compare_revisions
from analyzer.analysis.stats.logrank import logrank, stratified_logrank
from analyzer.analysis.stats.multiple import benjamini_hochberg
from tests.fleet_draws import draw_fleet


@pytest.mark.parametrize("seed", range(5))
def test_logrank_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.lognormal(2.0, 0.4, 60), rng.lognormal(2.2, 0.4, 45)
    a_seen, b_seen = a < 10, b < rng.uniform(5, 15, b.size)  # censored at a timeout, or not
    a_cut, b_cut = np.where(a_seen, a, 10), np.where(b_seen, b, rng.uniform(5, 15, b.size))
    b_cut = np.where(b_seen, b, np.minimum(b, b_cut))
    ours = logrank(a_cut, a_seen, b_cut, b_seen)
    theirs = stats.logrank(
        stats.CensoredData(uncensored=a_cut[a_seen], right=a_cut[~a_seen]),
        stats.CensoredData(uncensored=b_cut[b_seen], right=b_cut[~b_seen]),
    )
    assert ours.p_two_sided == pytest.approx(theirs.pvalue, rel=1e-9)
    assert abs(ours.z) == pytest.approx(abs(theirs.statistic), rel=1e-9)


def test_logrank_sign_says_which_group_is_slower() -> None:
    rng = np.random.default_rng(1)
    slow, fast = rng.lognormal(2.5, 0.3, 80), rng.lognormal(2.0, 0.3, 80)
    every = np.ones(80, dtype=bool)
    assert logrank(slow, every, fast, every).z > 3
    assert logrank(slow, every, fast, every).p_slower < 0.01
    assert logrank(fast, every, slow, every).p_slower > 0.99
    two = stratified_logrank([logrank(slow, every, fast, every)] * 2)
    assert two.z == pytest.approx(np.sqrt(2) * logrank(slow, every, fast, every).z)


def test_benjamini_hochberg_matches_scipy() -> None:
    p = np.random.default_rng(3).uniform(size=40) ** 2
    assert benjamini_hochberg(p) == pytest.approx(stats.false_discovery_control(p))
    assert benjamini_hochberg([]).size == 0


def _detected(frame: object, service: str = "backend", phase: int = 3) -> tuple[bool, bool]:
    """(the regressed phase flagged, anything else flagged)."""
    comparisons, _ = compare_revisions(frame, fdr=FDR)  # type: ignore[arg-type]
    hit = any(c.flagged and c.service == service and c.phase == phase for c in comparisons)
    other = any(c.flagged and not (c.service == service and c.phase == phase) for c in comparisons)
    return hit, other


def test_a_slower_revision_is_found_and_a_clean_week_raises_no_alarm() -> None:
    """A week at 40 startups a day per service (backend, auth), a deploy mid-week: a 1.3x
    phase-3 regression in backend's new revision is flagged in at least 18 of 20 seeds, and 20
    weeks without any regression raise at most one alarm between them."""
    found = sum(
        _detected(draw_fleet(seed, deploy_days=(3.5,), regression=("backend", 1.3)))[0]
        for seed in range(20)
    )
    false_alarms = sum(
        any(_detected(draw_fleet(100 + seed, deploy_days=(3.5,)))) for seed in range(20)
    )
    assert found >= 18
    assert false_alarms <= 1


def test_the_ratio_interval_covers_the_true_ratio() -> None:
    """The median ratio's 95 % interval (Brookmeyer-Crowley on the log scale) holds the true
    ratio (1.3 for backend's phase 3, 1 elsewhere) in about 95 % of the comparisons."""
    covered, total = 0, 0
    for seed in range(20):
        frame = draw_fleet(seed, deploy_days=(3.5,), regression=("backend", 1.3))
        for c in compare_revisions(frame)[0]:
            low, high = c.median.ci
            if c.vpc_state in ("healthy", "all") and low is not None and high is not None:
                truth = 1.3 if (c.service, c.phase) == ("backend", 3) else 1.0
                covered += low <= truth <= high
                total += 1
    assert total >= 300
    assert 0.90 <= covered / total <= 0.99


def test_only_the_newest_revisions_are_compared_each_against_those_before() -> None:
    frame = draw_fleet(5, deploy_days=(2.0, 4.5), regression=("backend", 1.3))
    newest, _ = compare_revisions(frame)
    assert {c.revision for c in newest} == {"backend-00002", "auth-00002"}
    assert {tuple(c.baseline_revisions) for c in newest if c.service == "backend"} == {
        ("backend-00000", "backend-00001")
    }
    two, _ = compare_revisions(frame, revisions=2)
    assert {c.revision for c in two} == {
        "backend-00001",
        "backend-00002",
        "auth-00001",
        "auth-00002",
    }
