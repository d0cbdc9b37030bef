"""The breaker advice against known laws: the wait in OPEN is how long strained VPC episodes
last (not the gap between startups), and the rate rules' false trips in healthy periods stay
under the target at the true failure rates under the recommended timeouts."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analyzer.analysis.attempts import AttemptGroup
from analyzer.analysis.stats.breaker import at_least, false_trip_chance
from analyzer.cli.recommend import breaker_lines
from analyzer.deploy.export import breaker_block
from analyzer.engine import local_engine
from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from analyzer.recommend.breaker import LakeEvidence, advise_breaker, lake_evidence
from analyzer.recommend.model import Breaker
from analyzer.recommend.policy import Policy
from analyzer.recommend.timeouts import phase_timeout, recommend
from analyzer.simulate import (
    PHASE3_ERROR_RATE,
    PHASE3_LAWS,
    DurationLaw,
    draw_attempts,
    draw_vpc_timeline,
)
from tests.conftest import T0, entry, write_ndjson

DAYS = 28.0
START = datetime(2026, 10, 1, tzinfo=UTC)
END = START + timedelta(days=DAYS)
TIMEOUT_S = 75.0
POLICY = Policy()


def _groups(
    gen: np.random.Generator, timeline: list[tuple[float, str]], per_day: float
) -> list[AttemptGroup]:
    """Startups at `per_day` a day, each with one phase-3 call in the state in force at its
    start, drawn from the generator's laws and error rates under a 75 s timeout."""
    n = gen.poisson(per_day * DAYS)
    started = START.timestamp() + np.sort(gen.uniform(0.0, DAYS * 86400.0, n))
    times = np.array([t for t, _ in timeline])
    states = np.array([s for _, s in timeline])[np.searchsorted(times, started, side="right") - 1]
    groups = []
    for state in sorted(set(states.tolist())):
        at = started[states == state]
        drawn = draw_attempts(
            PHASE3_LAWS[state],
            at.size,
            gen,
            timeouts_s=(TIMEOUT_S,),
            error_rate=PHASE3_ERROR_RATE[state],
            days=DAYS,
        )
        groups.append(
            AttemptGroup(
                phase=3,
                operation="initialization",
                vpc_state=state,
                started_s=at,
                ended_s=at + drawn.duration_s,
                duration_s=drawn.duration_s,
                observed=drawn.observed,
                timeout_s=np.full(at.size, TIMEOUT_S),
            )
        )
    return groups


# Two process-hours of healthy in-life calls (a call every 10 s, none failing): enough to
# calibrate the breaker per process, so the waits the advice fits ship.
IN_LIFE = [
    {"ts": START + timedelta(minutes=5 * n), "instance_id": "p-1", "vpc_state": "healthy",
     "window_s": 300.0, "calls": 30, "failures": 0, "slow_calls": 0}
    for n in range(24)
]  # fmt: skip


def _advice(groups: list[AttemptGroup], lake: LakeEvidence) -> Breaker:
    rows = [phase_timeout(g, END, POLICY, start=START) for g in groups]
    return advise_breaker(groups, policy=POLICY, rows=rows, start=START, end=END, lake=lake)


def _median_outage_between_startups(groups: list[AttemptGroup]) -> float:
    """What the advice measured before: from the first failure of a run of startup calls to
    the next success, in start order (runs of two failures or more where there are any)."""
    started = np.concatenate([g.started_s for g in groups])
    order = np.argsort(started)
    failed = ~np.concatenate([g.observed for g in groups])[order]
    ended = np.concatenate([g.ended_s for g in groups])[order]
    edges = np.diff(np.concatenate(([0], failed.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    keep = stops < failed.size
    if (stops - starts >= 2).any():
        keep &= stops - starts >= 2
    if not keep.any():
        return math.nan
    return float(np.median(ended[stops[keep]] - ended[starts[keep]]))


@pytest.mark.parametrize("per_day", [50, 150, 600])
def test_the_wait_in_open_grows_to_how_long_strained_episodes_last(per_day: int) -> None:
    # Healthy spells of 4 h (median) between strained episodes of 45 min: the dependency is
    # strained for 45 min whatever the startup rate, and the longest wait must say so. The
    # first wait is one probe's time: a false trip costs that, not an episode.
    quiet, episode = DurationLaw(4 * 3600.0, 0.5), DurationLaw(2700.0, 0.6)
    waits, before = [], []
    for seed in range(12):
        gen = np.random.default_rng(seed)
        timeline = [
            (START.timestamp() + t, s)
            for t, s in draw_vpc_timeline(gen, quiet=quiet, episode=episode, days=DAYS)
        ]
        groups = _groups(gen, timeline, per_day)
        advice = _advice(groups, LakeEvidence(timeline=timeline, summaries=IN_LIFE))
        waits.append(advice.max_recovery_timeout_s)
        before.append(_median_outage_between_startups(groups))
        assert advice.evidence["max_recovery_timeout_source"].startswith("Kaplan-Meier median")
        assert advice.max_half_open_s is not None
        assert advice.recovery_timeout_s == max(30.0, advice.max_half_open_s)
        assert advice.recovery_timeout_s < advice.max_recovery_timeout_s / 4
        assert advice.evidence["false_trip_open_s"] == advice.recovery_timeout_s
        assert 1 <= advice.evidence["probes_failed_in_a_median_episode"] <= 5
    near = np.abs(np.array(waits) / episode.median_s - 1.0) <= 0.2
    assert near.mean() >= 0.9, waits
    # the old measure (the gap between startups, not the dependency) fails the same check
    assert (np.abs(np.array(before) / episode.median_s - 1.0) <= 0.2).mean() < 0.5, before


def test_an_episode_going_on_at_the_end_is_censored_not_dropped() -> None:
    # Long episodes in a short window: many are cut by its end. Dropping them, or taking
    # their cut length as their length, shortens the median; Kaplan-Meier does not.
    quiet, episode = DurationLaw(6 * 3600.0, 0.5), DurationLaw(8 * 3600.0, 0.5)
    waits = []
    for seed in range(30):
        gen = np.random.default_rng(100 + seed)
        days = 6.0
        timeline = [
            (START.timestamp() + t, s)
            for t, s in draw_vpc_timeline(gen, quiet=quiet, episode=episode, days=days)
        ]
        from analyzer.recommend.breaker import STRAINED, episode_wait

        found = episode_wait(
            timeline,
            start=START.timestamp(),
            end=START.timestamp() + days * 86400,
            states=STRAINED,
        )
        if found["median_s"] is not None:
            waits.append(found["median_s"])
    assert len(waits) >= 20
    assert abs(float(np.median(waits)) / episode.median_s - 1.0) <= 0.15


def _true_failure_rate(state: str, timeout_s: float, gen: np.random.Generator) -> float:
    """The law's chance that a call fails under `timeout_s`: it lasts longer, or an error
    strikes (at a time uniform up to twice the median) before it completes."""
    law = PHASE3_LAWS[state]
    d = law.sample(gen, 100_000)
    struck = np.minimum(d / (2 * law.median_s), 1.0) * (d <= timeout_s)
    return float(law.survival(timeout_s) + PHASE3_ERROR_RATE[state] * struck.mean())


def test_false_trips_in_healthy_periods_stay_under_the_target() -> None:
    truth_gen = np.random.default_rng(7)
    within, honest, slow_within, gaps = [], [], [], []
    seeds = 25
    for seed in range(seeds):
        gen = np.random.default_rng(1000 + seed)
        # a state mix like the sample's: healthy most of the time, critical now and then
        timeline = [(START.timestamp(), "healthy")]
        for day in range(int(DAYS)):
            base = START.timestamp() + day * 86400
            timeline += [(base + 14 * 3600, "critical"), (base + 17 * 3600, "healthy")]
        groups = _groups(gen, timeline, 60)
        rows = {g.vpc_state: phase_timeout(g, END, POLICY, start=START) for g in groups}
        advice = _advice(groups, LakeEvidence(timeline=timeline, summaries=None))
        rule = advice.evidence["failure_rule"]
        # No in-life calls: the runtime's built-in breaker ships; the rate rules are evidence,
        # checked here as a rate-mode breaker would take them.
        assert advice.mode == "consecutive" and rule is not None
        assert advice.minimum_calls is None and advice.failure_rate_threshold is None
        assert advice.failure_threshold == 5 and advice.evidence["per_process"] is None
        threshold, window, minimum = rule["threshold"], rule["window_calls"], rule["minimum_calls"]
        healthy_t = rows["healthy"].timeout_s
        critical_t = rows["critical"].timeout_s
        assert healthy_t is not None and critical_t is not None
        p_healthy = _true_failure_rate("healthy", healthy_t, truth_gen)
        allowed = advice.evidence["false_trip_per_evaluation"] / 2
        true_false = false_trip_chance(threshold, window, minimum, p_healthy)
        within.append(true_false <= allowed)
        p_critical = _true_failure_rate("critical", critical_t, truth_gen)
        needed = math.ceil(threshold * window - 1e-9)
        true_trip = at_least(needed, window, p_critical)
        honest.append(true_trip >= rule["trip_probability_strained_lower"])
        gaps.append(rule["trip_probability_strained"] - true_trip)
        slow = advice.evidence["slow_rule"]["threshold"]
        slow_within.append(
            false_trip_chance(slow, window, minimum, PHASE3_LAWS["healthy"].survival(healthy_t))
            <= allowed
        )
    assert np.mean(within) >= 0.9, within
    assert np.mean(slow_within) >= 0.9, slow_within
    # the chance a full window of critical calls opens it: at least its stated lower bound,
    # and the stated point estimate near the true chance in the middle of the seeds
    assert np.mean(honest) >= 0.9, honest
    assert abs(float(np.median(gaps))) <= 0.15, gaps


def test_with_in_life_calls_false_trips_a_process_week_stay_under_the_target() -> None:
    # In-life summaries: each process makes calls at 1 a minute; healthy calls fail at 0.4 %,
    # critical ones at 8 %. False trips per process-week at the true rate: at most 1.
    truth = {"healthy": 0.004, "critical": 0.08}
    results = []
    for seed in range(30):
        gen = np.random.default_rng(2000 + seed)
        timeline = [(START.timestamp(), "healthy"), (START.timestamp() + 86400, "critical")]
        timeline += [(START.timestamp() + 90000, "healthy")]
        groups = _groups(gen, timeline, 40)
        summaries: list[dict[str, Any]] = []
        for state, share in (("healthy", 0.9), ("critical", 0.1)):
            for _ in range(200):
                window_s = 300.0 * share
                calls = int(gen.poisson(window_s / 60.0 * 10))
                failures = int(gen.binomial(calls, truth[state]))
                summaries.append(
                    {
                        "vpc_state": state,
                        "window_s": window_s,
                        "calls": calls,
                        "failures": failures,
                        "slow_calls": 0,
                    }
                )
        advice = _advice(groups, LakeEvidence(timeline=timeline, summaries=summaries))
        ev = advice.evidence
        assert ev["rates_by_state"]["healthy"]["source"] == "in-life calls (breaker_summary)"
        per_week = ev["in_life"]["evaluations_per_process_week"]
        assert per_week == pytest.approx(10 * 60 * 24 * 7, rel=0.05)
        rate_mode = ev["rate_mode"]
        threshold, window, minimum = (
            rate_mode["failure_rate_threshold"],
            rate_mode["window_calls"],
            rate_mode["minimum_calls"],
        )
        # in-life volume calibrates the consecutive threshold per process; the rate rules
        # are evidence, calibrated on the same volume
        assert advice.mode == "consecutive" and ev["per_process"] is not None
        assert ev["per_process"]["calls_per_process_minute"] == pytest.approx(10, rel=0.05)
        results.append(
            per_week * false_trip_chance(threshold, window, minimum, truth["healthy"])
            <= POLICY.max_false_trips_per_week / 2
        )
        assert not any("no in-life calls" in text for text in ev["limits"])
    assert np.mean(results) >= 0.9, results


def _summary(t: float, instance: str, **fields: Any) -> dict[str, Any]:
    payload = {
        "event": "breaker_summary",
        "window_s": 60.0,
        "calls": 30,
        "failures": 1,
        "slow_calls": 2,
        "slow_threshold_s": 75.0,
        "rejected": 0,
        "breaker_state": "CLOSED",
        "vpc_state": "healthy",
        "operation": "initialization",
        **fields,
    }
    return entry(payload, t=t, instance=instance)


def test_breaker_summaries_are_read_back_from_the_lake(tmp_path: Path) -> None:
    store = Store(tmp_path / "lake")
    rows = [
        entry({"event": "vpc_state_changed", "vpc_state": "healthy", "from_state": "critical",
               "to_state": "healthy"}, t=0, instance=None),
        entry({"event": "vpc_state_changed", "vpc_state": "critical", "from_state": "healthy",
               "to_state": "critical"}, t=3600, instance=None),
        entry({"event": "vpc_state_changed", "vpc_state": "healthy", "from_state": "critical",
               "to_state": "healthy"}, t=3600 + 1800, instance=None),
        _summary(600, "i-1"),
        _summary(660, "i-1", failures=3, vpc_state="critical", breaker_state="OPEN"),
        _summary(700, "i-2", calls=12, slow_calls=0),
    ]  # fmt: skip
    for n in range(25):  # startups, each with its one phase-3 call
        start = {"event": "phase_started", "phase": 3, "vpc_state": "healthy", "timeout_s": 20.0}
        done = {"event": "phase_completed", "phase": 3, "duration_s": 2.0 + n / 10}
        rows += [entry(start, t=n * 60, instance=f"s-{n}"),
                 entry(done, t=n * 60 + 2.0 + n / 10, instance=f"s-{n}")]  # fmt: skip
    import_paths([write_ndjson(tmp_path / "e.jsonl", rows)], env="staging", store=store)
    engine = local_engine(store)
    end = T0 + timedelta(hours=3)
    found = lake_evidence(engine, "staging", T0, end)
    assert found.summaries is not None
    assert [
        (r["instance_id"], r["vpc_state"], r["calls"], r["failures"], r["slow_calls"])
        for r in found.summaries
    ] == [("i-1", "healthy", 30, 1, 2), ("i-1", "critical", 30, 3, 2), ("i-2", "healthy", 12, 1, 0)]
    first = found.summaries[1]
    assert (first["window_s"], first["slow_threshold_s"], first["rejected"]) == (60.0, 75.0, 0)
    assert first["breaker_state"] == "OPEN" and first["operation"] == "initialization"
    assert found.timeline is not None
    assert [s for _, s in found.timeline] == ["healthy", "critical", "healthy"]
    # outside the window: nothing
    later = lake_evidence(engine, "staging", end, end + timedelta(hours=1))
    assert later.summaries == []
    # recommend reads them: the healthy calls' rates are the in-life ones
    ev = recommend(engine=engine, env="staging", since="1d").breaker.evidence
    assert ev["in_life"]["calls"] == 72 and ev["in_life"]["summaries"] == 3
    assert ev["rates_by_state"]["healthy"]["source"] == "in-life calls (breaker_summary)"
    assert ev["rates_by_state"]["healthy"]["failure_rate"] == pytest.approx(2 / 42)
    assert ev["rates_by_state"]["critical"]["failure_rate"] == pytest.approx(3 / 30)


def test_without_in_life_calls_the_evidence_says_so(tmp_path: Path) -> None:
    gen = np.random.default_rng(5)
    timeline = [(START.timestamp(), "healthy")]
    advice = _advice(_groups(gen, timeline, 60), LakeEvidence(timeline=timeline, summaries=[]))
    ev = advice.evidence
    assert ev["in_life"]["calls"] == 0
    assert ev["false_trip_target"] == "0.001 per evaluation (no in-life volume)"
    # nothing says how many calls a process makes: the runtime's built-in breaker ships
    assert advice.mode == "consecutive" and advice.minimum_calls is None
    assert (advice.failure_threshold, advice.recovery_timeout_s) == (5, 30.0)
    assert advice.backoff_multiplier is None and advice.max_recovery_timeout_s is None
    assert any("built-in breaker ships" in text for text in ev["limits"])
    assert any("not checked against in-life volume" in text for text in ev["limits"])
    assert ev["recovery_timeout_source"] == "the runtime's built-in breaker (no per-process volume)"
    # with in-life calls but no strained episode in the timeline: the default wait, and why
    calibrated = _advice(
        _groups(gen, timeline, 60), LakeEvidence(timeline=timeline, summaries=IN_LIFE)
    )
    assert calibrated.recovery_timeout_s == 30.0
    assert calibrated.evidence["recovery_timeout_source"].startswith(
        "default (no pressure or critical"
    )


def test_a_run_saved_before_the_rate_mode_still_loads_and_prints() -> None:
    old = {
        "failure_threshold": 1,
        "recovery_timeout_s": 600.0,
        "half_open_max_calls": 1,
        "evidence": {"phase": 3, "calls": 2059, "outages": {"count": 49}},
    }
    breaker = Breaker.model_validate(old)
    assert breaker.mode == "consecutive" and breaker.window_calls is None
    assert "1 consecutive failures" in "\n".join(breaker_lines(breaker))
    # exported as it was: the three settings of the consecutive mode, nothing else
    assert breaker_block(breaker) == {
        "failure_threshold": 1,
        "recovery_timeout_s": 600.0,
        "half_open_max_calls": 1,
    }


def test_a_process_window_counts_its_time_once() -> None:
    """A process's summaries of one window, one per operation (and, pooled, per quiet state),
    are one window of its time; two processes' windows are two."""
    from analyzer.recommend.breaker import process_volume

    def row(instance: str, operation: str, state: str, calls: int) -> dict[str, Any]:
        return {"ts": START, "instance_id": instance, "operation": operation, "vpc_state": state,
                "window_s": 60.0, "calls": calls, "failures": 1}  # fmt: skip

    one = process_volume([row("p-1", "query", "healthy", 40), row("p-1", "connect", "healthy", 20)])
    assert (one.process_s, one.per_s, one.calls.tolist()) == (60.0, 1.0, [60.0])
    pooled = process_volume([row("p-1", "query", "unknown", 30), row("p-1", "query", "scaling", 30),
                             row("p-2", "query", "unknown", 60)])  # fmt: skip
    assert pooled.states == ["scaling", "unknown"]
    assert (pooled.process_s, pooled.per_s) == (120.0, 1.0)
    assert sorted(pooled.failures.tolist()) == [1.0, 2.0]
