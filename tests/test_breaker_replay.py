"""The breaker advice replayed: one process-week of calls through the runtime's own breaker
(`CircuitBreaker.from_settings`, a simulated clock, no sleeping) over a grid of call volumes
and healthy failure rates, failures alone and in short bursts. False opens stay at or under
what the advice printed, never more than one a process-week at 1 % failures, and an outage
opens it within 120 s at a call a second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.stats import poisson

from analyzer.analysis.attempts import AttemptGroup
from analyzer.cli.recommend import breaker_lines
from analyzer.deploy.export import breaker_block
from analyzer.engine import local_engine
from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from analyzer.recommend.breaker import LakeEvidence, advise_breaker
from analyzer.recommend.model import Breaker
from analyzer.recommend.policy import Policy
from analyzer.recommend.timeouts import phase_timeout, recommend
from analyzer.runtime import CircuitBreaker
from analyzer.runtime.schema import BreakerSettings, parse_config
from analyzer.simulate import SimulationSpec, write_export
from tests.conftest import T0, entry, write_ndjson

WEEK_S = 7 * 86400.0
START = datetime(2026, 10, 1, tzinfo=UTC)
END = START + timedelta(days=7)
POLICY = Policy()
VOLUMES = (0.1, 1.0, 10.0)  # calls a second of one process
RATES = (0.001, 0.005, 0.01, 0.02)  # healthy failure rates
BURSTS = (1.0, 3.0)  # mean calls in a run of failures: 1 is independent
CALL_TIMEOUT_S = 30.0  # the in-life calls' timeout, as their summaries say (slow_threshold_s)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def failure_runs(
    calls: int, rate: float, burst: float, gen: np.random.Generator
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Where each run of failures starts among `calls` calls, and its length: a two-state
    Markov chain failing `rate` of calls, in runs of `burst` calls on average (geometric)."""
    go_on = 1.0 - 1.0 / burst if burst > 1.0 else rate
    start = rate * (1.0 - go_on) / (1.0 - rate) if burst > 1.0 else rate
    runs = int(calls * start * 1.3) + 50
    quiet = gen.geometric(start, runs)
    failing = gen.geometric(1.0 - go_on, runs)
    starts = np.cumsum(quiet) + np.concatenate(([0], np.cumsum(failing)[:-1]))
    keep = starts < calls
    starts, lengths = starts[keep], failing[keep]
    assert keep.sum() < runs, "too few runs drawn"
    return starts, np.minimum(lengths, calls - starts)


def summaries(
    rate: float, burst: float, per_s: float, gen: np.random.Generator
) -> list[dict[str, Any]]:
    """One process-week of the runtime's minute summaries (healthy calls at `per_s` a second,
    evenly spaced), as the lake's breaker_summaries query returns them."""
    calls = int(per_s * WEEK_S)
    starts, lengths = failure_runs(calls, rate, burst, gen)
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    failed_at = np.arange(int(lengths.sum())) + offsets
    minutes = int(WEEK_S // 60)
    edges = np.ceil(np.arange(minutes + 1) * 60.0 * per_s).astype(np.int64)
    per_minute = np.diff(edges)
    failures = np.bincount(np.searchsorted(edges, failed_at, side="right") - 1, minlength=minutes)
    return [
        {
            "ts": START + timedelta(minutes=m + 1),
            "instance_id": "process-1",
            "vpc_state": "healthy",
            "operation": "query",
            "window_s": 60.0,
            "calls": int(per_minute[m]),
            "failures": int(failures[m]),
            "slow_calls": 0,
            "slow_threshold_s": CALL_TIMEOUT_S,
            "rejected": 0,
            "breaker_state": "CLOSED",
        }
        for m in range(minutes)
        if per_minute[m]
    ]


def _startup_calls() -> list[AttemptGroup]:
    """A week of startups, each with its one database call (6 s median, all completed)."""
    started = START.timestamp() + np.linspace(0, WEEK_S, 200, endpoint=False)
    duration = np.random.default_rng(3).lognormal(np.log(6.0), 0.35, started.size)
    return [
        AttemptGroup(
            phase=3,
            operation="initialization",
            vpc_state="healthy",
            started_s=started,
            ended_s=started + duration,
            duration_s=duration,
            observed=np.ones(started.size, dtype=bool),
            timeout_s=np.full(started.size, 75.0),
        )
    ]


def advice(found: list[dict[str, Any]] | None) -> Breaker:
    groups = _startup_calls()
    rows = [phase_timeout(g, END, POLICY, start=START) for g in groups]
    lake = LakeEvidence(timeline=None, summaries=found)
    return advise_breaker(groups, policy=POLICY, rows=rows, start=START, end=END, lake=lake)


def settings_of(breaker: Breaker) -> BreakerSettings:
    """The breaker a service runs: the exported block read by the runtime's one validator."""
    config = {
        "schema_version": 3,
        "env": "staging",
        "timeouts": [
            {"phase": 3, "operation": "initialization", "vpc_state": "healthy", "timeout_s": 75.0}
        ],
        "breaker": breaker_block(breaker),
    }
    parsed = parse_config(config)
    assert parsed.breaker is not None
    return parsed.breaker


def replay_week(
    settings: BreakerSettings,
    per_s: float,
    starts: NDArray[np.int64],
    lengths: NDArray[np.int64],
    calls: int,
) -> int:
    """The times the breaker opens from CLOSED over `calls` calls, evenly spaced at `per_s` a
    second, failing in the runs given. Calls go through the breaker one by one from each run
    of failures until a success finds it CLOSED; between runs every call succeeds, and a
    success in CLOSED sets nothing but the failure count, already 0, so those are skipped."""
    clock = Clock()
    opened = [0]

    def count(before: str, after: str) -> None:
        opened[0] += before == "CLOSED" and after == "OPEN"

    breaker = CircuitBreaker.from_settings(settings, clock=clock, on_transition=count)
    ends = starts + lengths
    at = 0
    for run in range(starts.size):
        if ends[run] <= at:
            continue  # gone through already, one call at a time
        at = max(at, int(starts[run]))
        following = int(starts[run + 1]) if run + 1 < starts.size else calls
        while at < following:  # its failures, then successes until one finds it CLOSED
            clock.now = at / per_s
            failed = at < ends[run]
            if breaker.should_attempt_request():
                if failed:
                    breaker.record_failure(TimeoutError(), duration_s=0.01)
                else:
                    breaker.record_success(0.01)
            at += 1
            if not failed and breaker.state == "CLOSED":
                break
    return opened[0]


@pytest.fixture(scope="module")
def grid() -> list[dict[str, Any]]:
    """Each cell: the advice from a process-week of summaries, and a fresh week replayed."""
    cells = []
    for n, (per_s, rate, burst) in enumerate(
        (v, r, b) for v in VOLUMES for r in RATES for b in BURSTS
    ):
        found = summaries(rate, burst, per_s, np.random.default_rng(100 + n))
        advised = advice(found)
        calls = int(per_s * WEEK_S)
        starts, lengths = failure_runs(calls, rate, burst, np.random.default_rng(500 + n))
        settings = settings_of(advised)
        cells.append(
            {
                "per_s": per_s,
                "rate": rate,
                "burst": burst,
                "advice": advised,
                "settings": settings,
                "opens": replay_week(settings, per_s, starts, lengths, calls),
            }
        )
    return cells


@pytest.mark.slow
def test_false_opens_in_a_process_week_stay_under_what_the_advice_printed(
    grid: list[dict[str, Any]],
) -> None:
    expected = 0.0
    for cell in grid:
        found = cell["advice"].evidence["per_process"]
        assert found is not None, cell
        # calibrated on the volume the process makes, and it says which
        assert found["calls_per_process_minute"] == pytest.approx(60 * cell["per_s"], rel=0.01)
        assert cell["advice"].failure_threshold >= 5  # never below the built-in breaker
        assert cell["opens"] <= found["false_opens_per_process_week_bound"], cell
        if cell["rate"] == 0.01:
            assert cell["opens"] <= 1, cell
        expected += found["false_opens_per_process_week"]
    # over the grid, the opens seen are what the printed expectations allow
    assert sum(c["opens"] for c in grid) <= poisson.ppf(0.999, expected)


@pytest.mark.slow
def test_the_replay_sees_false_opens_where_the_threshold_is_too_low(
    grid: list[dict[str, Any]],
) -> None:
    """The old advice (2 in a row, from startup calls) replayed the same way: it opens dozens
    of times a process-week; the advice's threshold, in bursts, far fewer."""
    cell = next(c for c in grid if c["per_s"] == 1.0 and c["rate"] == 0.01 and c["burst"] == 1)
    calls = int(WEEK_S)
    starts, lengths = failure_runs(calls, 0.01, 1.0, np.random.default_rng(9))
    old = BreakerSettings(2, 30.0, 1)
    assert replay_week(old, 1.0, starts, lengths, calls) >= 20
    built_in = BreakerSettings()
    bursty = failure_runs(calls, 0.01, 3.0, np.random.default_rng(9))
    assert replay_week(built_in, 1.0, *bursty, calls) >= 20  # 5 in a row is too few in bursts
    assert cell["opens"] <= 1


def _outage_opens_after_s(settings: BreakerSettings, hang_s: float) -> float | None:
    """Every call fails, a call a second from 0: when the breaker opens. A call that hangs
    reports its failure when its timeout ends it, `hang_s` after it started."""
    clock = Clock()
    breaker = CircuitBreaker.from_settings(settings, clock=clock)
    for second in range(600):
        clock.now = float(second)
        breaker.should_attempt_request()  # each call is admitted while CLOSED
        if second >= hang_s:
            breaker.record_failure(TimeoutError(), duration_s=hang_s)
        if breaker.state == "OPEN":
            return clock.now
    return None


@pytest.mark.slow
@pytest.mark.parametrize("hang_s", [0.0, CALL_TIMEOUT_S])
def test_an_outage_opens_it_within_120_s_at_a_call_a_second(
    grid: list[dict[str, Any]], hang_s: float
) -> None:
    for cell in (c for c in grid if c["per_s"] == 1.0):
        opened = _outage_opens_after_s(cell["settings"], hang_s)
        assert opened is not None and opened <= 120.0, cell
        found = cell["advice"].evidence["per_process"]
        assert opened == pytest.approx(hang_s + found["outage_opens_after_s"] - 1.0, abs=1.0)


def test_without_per_process_volume_the_built_in_breaker_ships() -> None:
    for found in (None, [], summaries(0.01, 1.0, 0.1, np.random.default_rng(1))[:50]):
        advised = advice(found)
        assert breaker_block(advised) == {
            "failure_threshold": 5,
            "recovery_timeout_s": 30.0,
            "half_open_max_calls": 1,
        }
        assert advised.evidence["per_process"] is None
        assert any("built-in breaker ships" in text for text in advised.evidence["limits"])
        assert "5 in a row (the runtime's built-in breaker" in "\n".join(breaker_lines(advised))


def test_the_table_says_which_volume_the_threshold_was_calibrated_on() -> None:
    advised = advice(summaries(0.01, 1.0, 1.0, np.random.default_rng(2)))
    found = advised.evidence["per_process"]
    lines = "\n".join(breaker_lines(advised))
    assert f"{advised.failure_threshold} in a row (calibrated per process at 60.0 calls a " in lines
    assert f"{found['false_opens_per_process_week']:.3g} false opens a process-week" in lines


def test_fresh_simulated_data_ships_the_built_in_breaker_until_summaries_show_the_volume(
    tmp_path: Path, store: Store
) -> None:
    """`analyze simulate` writes no breaker_summary: the export is the built-in breaker. Then
    a process's own breaker (the runtime's, on a simulated clock) logs two hours of minute
    summaries at a call a second, and the advice is calibrated on that volume."""
    spec = SimulationSpec(env="staging", days=3, start=datetime(2026, 10, 5, tzinfo=UTC), seed=7)
    write_export(spec, tmp_path / "sim.jsonl")
    import_paths([tmp_path / "sim.jsonl"], env="staging", store=store)
    fresh = recommend(engine=local_engine(store), env="staging", since="3d").breaker
    assert breaker_block(fresh) == {
        "failure_threshold": 5,
        "recovery_timeout_s": 30.0,
        "half_open_max_calls": 1,
    }

    clock, sent = Clock(), []
    process = CircuitBreaker(
        clock=clock,
        on_summary=sent.extend,
        summary_every_s=None,
        vpc_state_provider=lambda: "healthy",
    )
    rng = np.random.default_rng(4)
    for second in range(2 * 3600):
        clock.now = float(second)
        if rng.random() < 0.01:
            process.record_failure(TimeoutError(), duration_s=0.2, timeout_s=CALL_TIMEOUT_S)
        else:
            process.record_success(0.05, timeout_s=CALL_TIMEOUT_S)
        if second % 60 == 59:
            process.flush()
    offset = (spec.start - T0).total_seconds() + 86400
    entries = [
        entry({"event": "breaker_summary", **s}, t=offset + 60 * (n + 1), instance="process-1")
        for n, s in enumerate(sent)
    ]
    import_paths([write_ndjson(tmp_path / "summaries.jsonl", entries)], env="staging", store=store)
    calibrated = recommend(engine=local_engine(store), env="staging", since="3d").breaker
    found = calibrated.evidence["per_process"]
    assert found is not None and found["quiet_states"] == ["healthy"]
    assert found["calls_per_process_minute"] == pytest.approx(60.0, rel=0.02)
    assert calibrated.failure_threshold >= 5 and found["false_opens_per_process_week_bound"] <= 1


def test_quiet_calls_no_threshold_can_tell_from_an_outage_are_named() -> None:
    """A quarter of healthy calls failing in long runs: even 50 in a row is not enough."""
    advised = advice(summaries(0.25, 20.0, 10.0, np.random.default_rng(5)))
    assert advised.failure_threshold == 50
    assert any(text.startswith("Even 50 failures") for text in advised.evidence["limits"])
