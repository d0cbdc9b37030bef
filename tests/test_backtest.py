"""`backtest`: a replay checkable by eye, and the seed's story on the bundled sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer.backtest.replay import backtest
from analyzer.cli import main
from analyzer.engine import local_engine
from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from analyzer.runtime.schema import BreakerSettings
from tests.conftest import copy_lake, entry, write_ndjson


def _attempt(n: int, duration: float, outcome: str) -> list[dict]:
    inst = f"s-{n}"
    start = {"event": "phase_started", "phase": 3, "vpc_state": "healthy", "timeout_s": 5.0}
    end = (
        {"event": "phase_completed", "phase": 3, "duration_s": duration}
        if outcome == "completed"
        else {"event": "phase_failed", "phase": 3, "duration_s": duration, "outcome": outcome}
    )
    return [entry(start, t=n * 100, instance=inst), entry(end, t=n * 100 + duration, instance=inst)]


@pytest.fixture
def hand_lake(tmp_path: Path, store: Store) -> Store:
    """20 attempts that took 10 s, 20 cut by a 5 s timeout, 1 stopped by an error at 2 s."""
    entries = [e for n in range(20) for e in _attempt(n, 10.0, "completed")]
    entries += [e for n in range(20, 40) for e in _attempt(n, 5.0, "timeout")]
    entries += _attempt(40, 2.0, "error")
    import_paths([write_ndjson(tmp_path / "e.jsonl", entries)], env="staging", store=store)
    return store


def replay(store: Store, seconds: float, **more):
    return backtest(
        engine=local_engine(store),
        env="staging",
        timeouts={(3, "initialization", "unknown"): seconds},
        config_name=f"{seconds} s",
        **{"breaker": BreakerSettings(3, 30.0, 1), **more},
    )


def test_replay_by_eye(hand_lake: Store) -> None:
    # Every duration the data show is 10 s: cut ones (known to be over 5 s) finish by 15 s.
    longer = replay(hand_lake, 15.0)
    (healthy,) = longer.states
    assert healthy.attempts == 41
    assert healthy.success_rate_observed == pytest.approx(20 / 41)
    assert healthy.success_rate_predicted == pytest.approx(40 / 41)  # the error still fails
    assert healthy.seconds_lost_observed == pytest.approx(100.0)  # 20 timeouts x 5 s
    assert healthy.seconds_lost_predicted == pytest.approx(0.0)
    # Under 8 s nothing finishes: 40 attempts wait 8 s each.
    shorter = replay(hand_lake, 8.0)
    assert shorter.overall.success_rate_predicted == 0.0
    assert shorter.overall.seconds_lost_predicted == pytest.approx(320.0)
    assert shorter.overall.startup_success_rate_predicted == 0.0
    assert (longer.overall.startups, longer.overall.startup_success_rate_predicted) == (
        41,
        pytest.approx(40 / 41),
    )
    # Each startup is its own process with one call of the phase: 20 timeouts in a row across
    # 20 processes open no 3-failure breaker (an env-wide replay, which no process performs,
    # opened one and refused calls).
    o = longer.overall
    assert (o.breaker_opened_observed, o.breaker_refused_observed) == (0, 0)
    assert (o.breaker_opened_predicted, o.breaker_refused_predicted) == (0, 0)


def test_the_breaker_is_replayed_in_each_process(hand_lake: Store) -> None:
    # A 1-failure breaker opens in every process whose call fails, and refuses nothing: no
    # process makes a second call. Replayed at 15 s only the error's process fails.
    one = replay(hand_lake, 15.0, breaker=BreakerSettings(1, 30.0, 1)).overall
    assert (one.breaker_opened_observed, one.breaker_refused_observed) == (21, 0)
    assert (one.breaker_opened_predicted, one.breaker_refused_predicted) == (1, 0)


@pytest.fixture
def two_processes(tmp_path: Path, store: Store) -> Store:
    """One process fails its initialization and connection calls, then tries the pool and the
    health check within the wait in OPEN (a 2-failure breaker refuses both). Another process
    makes the same calls and succeeds: its own breaker never saw the first one's failures."""
    entries = []
    for inst, base, failing in (("bad", 0.0, True), ("good", 100.0, False)):
        for k, op in enumerate(("initialization", "connection", "pool_checkout", "health_check")):
            t = base + 10.0 * k
            start = {
                "event": "phase_started",
                "phase": 3,
                "operation": op,
                "vpc_state": "healthy",
                "timeout_s": 5.0,
            }
            end = (
                {
                    "event": "phase_failed",
                    "phase": 3,
                    "operation": op,
                    "duration_s": 5.0,
                    "outcome": "timeout",
                }
                if failing and k < 2
                else {"event": "phase_completed", "phase": 3, "operation": op, "duration_s": 1.0}
            )
            entries += [entry(start, t=t, instance=inst), entry(end, t=t + 5.0, instance=inst)]
    import_paths([write_ndjson(tmp_path / "e.jsonl", entries)], env="staging", store=store)
    return store


def _as_in_force(store: Store, breaker: BreakerSettings):
    return backtest(
        engine=local_engine(store), env="staging", timeouts={}, breaker=breaker, config_name="-"
    ).overall


def test_a_process_with_several_calls_opens_and_refuses(two_processes: Store) -> None:
    result = _as_in_force(two_processes, BreakerSettings(2, 60.0, 1))
    assert (result.breaker_opened_observed, result.breaker_refused_observed) == (1, 2)


def test_sweep_rises_with_the_timeout(hand_lake: Store) -> None:
    curve = replay(hand_lake, 15.0, sweep=True).sweep
    assert curve is not None
    rates = [p.success_rate_predicted for p in curve]
    assert rates == sorted(rates)
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(40 / 41)


@pytest.fixture(scope="module")
def sample_store(sample_recommended_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> Store:
    return Store(copy_lake(sample_recommended_lake, tmp_path_factory.mktemp("bt")))


def test_the_seed_story_on_the_sample(sample_store: Store) -> None:
    runner = CliRunner()
    args = ["backtest", "--env", "staging", "--store", str(sample_store.root), "--format", "json"]
    static = json.loads(runner.invoke(main, [*args, "--timeout-s", "20"]).stdout)
    recommended = json.loads(runner.invoke(main, args).stdout)
    assert {"env", "config", "states", "overall"} <= set(static)
    pressure = next(
        s
        for s in static["states"]
        if (s["service"], s["vpc_state"]) == ("netra-backend-staging", "pressure")
    )
    assert {
        "service",
        "vpc_state",
        "attempts",
        "success_rate_observed",
        "success_rate_predicted",
        "seconds_lost_predicted",
    } <= set(pressure)
    assert pressure["success_rate_predicted"] < 0.5  # the static 20 s fails most of backend's
    auth = next(
        s
        for s in static["states"]
        if (s["service"], s["vpc_state"]) == ("netra-auth-staging", "pressure")
    )
    assert auth["success_rate_predicted"] > 0.7  # auth's phase 3 takes half as long
    assert recommended["overall"]["startup_success_rate_predicted"] > 0.95
    assert (
        recommended["overall"]["success_rate_predicted"]
        > static["overall"]["success_rate_predicted"]
    )


def test_table_and_sweep_in_the_cli(sample_store: Store) -> None:
    result = CliRunner().invoke(
        main, ["backtest", "--env", "staging", "--store", str(sample_store.root), "--sweep"]
    )
    assert result.exit_code == 0, result.output
    assert "success rate against the timeout" in result.output and "overall" in result.output


def test_the_rate_mode_is_replayed_as_the_runtime_runs_it(two_processes: Store) -> None:
    # 5 failures in a row never come, but 2 failures of 2 calls are a rate of 100 %: the rate
    # mode opens where the consecutive mode with the same threshold does not.
    rate = BreakerSettings(
        5, 60.0, 1, mode="rate", window_calls=4, minimum_calls=2, failure_rate_threshold=0.5
    )
    result = _as_in_force(two_processes, rate)
    assert (result.breaker_opened_observed, result.breaker_refused_observed) == (1, 2)
    consecutive = _as_in_force(two_processes, BreakerSettings(5, 60.0, 1))
    assert (consecutive.breaker_opened_observed, consecutive.breaker_refused_observed) == (0, 0)
