"""`analyze capacity`: its hours, forecast and costs against known answers (a hand-made lake,
timelines drawn from known laws), and the command's JSON and errors."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from analyzer.capacity import capacity
from analyzer.capacity.forecast import backtest, seasonal_forecast
from analyzer.capacity.when import (
    cut_hours,
    strained_episodes,
    timeline_states,
    weekly_trend,
)
from analyzer.cli import main
from analyzer.engine import local_engine
from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from analyzer.runtime.emitter import LOGGER_NAME
from analyzer.runtime.vpc import VpcReading, emit_state_change
from analyzer.simulate import (
    DEFAULT_START,
    WeibullLaw,
    draw_state_timeline,
    draw_vpc_timeline,
    is_peak,
)
from tests.conftest import T0, entry, write_ndjson

HOUR = 3600.0


def _states(timeline: list[tuple[float, str]], origin: float) -> list[tuple[float, str, Any]]:
    return timeline_states(timeline, origin_s=origin)


def test_hours_take_the_strained_share_of_each_hour() -> None:
    origin = T0.timestamp() - 12 * HOUR  # 2026-10-01 00:00 UTC, a Thursday
    states = _states([(0, "healthy"), (0.5 * HOUR, "pressure"), (2 * HOUR, "unknown")], origin)
    hours = cut_hours(states, start_s=origin, end_s=origin + 3 * HOUR, zone="UTC")
    assert list(hours.hour_of_week) == [72, 73, 74]  # Thursday is day 3
    assert list(hours.strained_s) == [1800.0, 3600.0, 0.0]
    share = hours.share
    assert share[0] == 0.5 and share[1] == 1.0 and np.isnan(share[2])  # the last hour unknown


def test_hour_zero_is_monday_midnight_in_the_zone() -> None:
    origin = T0.timestamp() - 12 * HOUR  # Thursday 00:00 UTC is Thursday 02:00 in Berlin
    states = _states([(0, "healthy")], origin)
    hours = cut_hours(states, start_s=origin, end_s=origin + 2 * HOUR, zone="Europe/Berlin")
    assert list(hours.hour_of_week) == [74, 75]
    kolkata = cut_hours(states, start_s=origin, end_s=origin + 3 * HOUR, zone="Asia/Kolkata")
    assert kolkata.start_s[0] == origin + 0.5 * HOUR  # local hours start on the half hour
    assert kolkata.hour_of_week[0] == 72 + 6


def test_episodes_join_consecutive_strained_states_and_count_cut_ones() -> None:
    origin = 0.0
    states = _states(
        [
            (0, "pressure"),
            (600, "healthy"),
            (1000, "scaling"),
            (1300, "critical"),
            (2000, "healthy"),
            (5000, "pressure"),
        ],
        origin,
    )
    found = strained_episodes(states, start_s=100.0, end_s=6000.0)
    assert (found.count, found.cut_by_window) == (3, 2)  # the first and last are cut
    assert found.median_s == found.longest_s == 1000.0


def _weekly(seed: int, *, weeks: int = 8) -> tuple[Any, Any]:
    gen = np.random.default_rng(seed)
    timeline = draw_state_timeline(gen, days=7 * weeks, weekly_strain=True)
    origin = DEFAULT_START.timestamp()  # a Monday
    hours = cut_hours(
        _states(timeline, origin), start_s=origin, end_s=origin + weeks * 7 * 86400, zone="UTC"
    )
    return hours, hours.share


def test_busy_weekday_hours_are_forecast_busy_and_beat_seasonal_naive() -> None:
    """Known truth: strain 65 % of busy weekday hours (13:00-21:59 UTC), 15 % otherwise."""
    busy = np.array(
        [is_peak(DEFAULT_START + timedelta(hours=h), weekly_strain=True) for h in range(168)]
    )
    gains = []
    for seed in range(6):
        hours, share = _weekly(seed)
        forecast = seasonal_forecast(share, hours)
        assert forecast.share[busy].mean() >= 2 * forecast.share[~busy].mean()
        scored = backtest(share, hours)
        assert scored.beats_both and scored.weekly_pattern
        gains.append(scored.gain_over_seasonal_naive)
    assert np.mean(gains) >= 0.20, gains


def test_memoryless_timelines_grow_no_weekly_pattern() -> None:
    """Known truth: exponential healthy spells (mean 3 h) and episodes (mean 1.5 h), the same
    at every hour: no weekly pattern claimed in at least 19 of 20 seeds."""
    claimed = 0
    for seed in range(20):
        gen = np.random.default_rng(1000 + seed)
        timeline = draw_vpc_timeline(
            gen, quiet=WeibullLaw(3 * HOUR, 1.0), episode=WeibullLaw(1.5 * HOUR, 1.0), days=56
        )
        origin = DEFAULT_START.timestamp()
        hours = cut_hours(
            _states(timeline, origin), start_s=origin, end_s=origin + 56 * 86400, zone="UTC"
        )
        claimed += backtest(hours.share, hours).weekly_pattern
    assert claimed <= 1


def test_trend_says_growing_only_for_strain_that_grows() -> None:
    origin = 0.0
    week = 7 * 86400.0
    # each week strained for longer: 10, 20, ... 60 hours
    growing = []
    for w in range(6):
        growing += [(w * week, "pressure"), (w * week + (w + 1) * 10 * HOUR, "healthy")]
    hours = cut_hours(_states(growing, origin), start_s=0.0, end_s=6 * week, zone="UTC")
    trend = weekly_trend(hours)
    assert trend.direction == "growing"
    assert trend.slope_per_week == pytest.approx(10 * HOUR / week)
    flat = [(w * week + d, s) for w in range(6) for d, s in ((0, "pressure"), (HOUR, "healthy"))]
    hours = cut_hours(_states(flat, origin), start_s=0.0, end_s=6 * week, zone="UTC")
    assert weekly_trend(hours).direction == "steady"


def _at(seconds: float, payload: dict[str, Any], instance: str | None, revision: str) -> dict:
    e = entry({"env": "staging", **payload}, t=seconds, instance=instance)
    e["resource"]["labels"]["revision_name"] = revision
    return e


def _startup(
    name: str,
    t: float,
    seconds: float,
    revision: str,
    *,
    failed: bool = False,
    phase3_s: float | None = None,
) -> list[dict[str, Any]]:
    out = [_at(t, {"event": "startup_started"}, name, revision)]
    if phase3_s is not None:
        common = {"phase": 3, "phase_name": "database", "timeout_s": 25.0}
        out.append(_at(t + 1, {"event": "phase_started", **common}, name, revision))
        ended = (
            {"event": "phase_failed", "outcome": "timeout"}
            if failed
            else {"event": "phase_completed"}
        )
        out.append(
            _at(t + 1 + phase3_s, {**ended, "duration_s": phase3_s, **common}, name, revision)
        )
    end = {"event": "startup_failed", "exit_code": 3} if failed else {"event": "startup_completed"}
    out.append(_at(t + seconds, end, name, revision))
    return out


@pytest.fixture(scope="module")
def hand_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Strained (pressure) from 1 h to 2 h after T0; five backend startups: three healthy
    (10, 20 and 15 s), two in strain (failed after 40 s; 35 s with phase 3 past the 25 s
    timeout), revision r2 first seen in strain."""
    root = tmp_path_factory.mktemp("capacity") / "lake"
    vpc = [
        _at(
            t,
            {"event": "vpc_state_changed", "vpc_state": s, "to_state": s, **more},
            None,
            "backend-r1",
        )
        for t, s, more in (
            (0, "healthy", {}),
            (3600, "pressure", {"vpc_instances": 10.0, "vpc_max_instances": 10}),
            (7200, "healthy", {"vpc_instances": 4.0, "vpc_max_instances": 10}),
        )
    ]
    entries = vpc
    entries += _startup("a", 100, 10, "backend-r1")
    entries += _startup("b", 1000, 20, "backend-r1")
    entries += _startup("c", 4000, 40, "backend-r2", failed=True, phase3_s=25.0)
    entries += _startup("d", 5000, 35, "backend-r2", phase3_s=30.0)
    entries += _startup("e", 8000, 15, "backend-r2")
    source = write_ndjson(root.parent / "hand.jsonl", entries)
    import_paths([source], env="staging", store=Store(root))
    return root


def test_costs_match_a_hand_computation(hand_lake: Path) -> None:
    result = capacity(engine=local_engine(Store(hand_lake)), env="staging")
    weeks = (8015 + 1e-6) / (7 * 86400)  # from T0 to just after the last event
    assert result.weeks == pytest.approx(weeks)
    [cost] = result.costs
    assert (cost.service, cost.startups, cost.strained_startups) == ("backend", 5, 2)
    assert cost.healthy_mean_s == pytest.approx(15.0)  # (10 + 20 + 15) / 3
    assert cost.extra_s_per_week == pytest.approx(((40 - 15) + (35 - 15)) / weeks)
    assert (cost.failed, cost.failed_in_strain, cost.would_fail_in_strain) == (1, 1, 1)
    assert (cost.deploys, cost.deploys_in_strain) == (2, 1)
    assert cost.failures_saved == pytest.approx(1.0)  # no healthy startup failed
    assert result.strained_share == 0.5  # of the two whole hours, 12:00 and 13:00 UTC
    assert not result.backtest.forecast_shown
    assert "too little history" in result.backtest.verdict
    [connector] = [w for w in result.what_ifs if w.change.startswith("connector")]
    assert "is the bottleneck" in connector.change  # at max in the one strained reading
    assert "in 1 of 1 readings" in connector.evidence


def test_command_json_carries_168_hours_and_the_backtest(hand_lake: Path) -> None:
    out = CliRunner().invoke(
        main,
        [
            "capacity",
            "--env",
            "staging",
            "--store",
            str(hand_lake),
            "--format",
            "json",
            "--tz",
            "Europe/Berlin",
        ],
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert [r["hour"] for r in data["hour_of_week"]] == list(range(168))
    # 2026-10-01 13:00 to 14:00 UTC is Thursday 15:00 in Berlin: strained all of it
    assert data["hour_of_week"][72 + 15]["strained_share"] == 1.0
    assert all(r["forecast"] is None for r in data["hour_of_week"])
    assert set(data["backtest"]) >= {"seasonal_rmse", "seasonal_naive_rmse", "flat_mean_rmse"}


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["--tz", "Mars/Olympus"], 2, "unknown time zone"),
        (["--service", "nosuch"], 1, "nosuch"),
    ],
)
def test_command_refuses_in_one_line(
    hand_lake: Path, args: list[str], code: int, said: str
) -> None:
    out = CliRunner().invoke(
        main, ["capacity", "--env", "staging", "--store", str(hand_lake), *args]
    )
    assert out.exit_code == code, out.output
    assert said in out.output and "Traceback" not in out.output
    assert len(out.output.strip().splitlines()) == 1


def test_simulated_weekly_strain_shows_in_the_hours_of_the_week(tmp_path: Path) -> None:
    """`simulate --weekly-strain`: the weekend's afternoons are as quiet as the nights, the
    weekdays' busy (truth: 65 % strained against 15 %)."""
    export, lake = tmp_path / "weekly.jsonl", str(tmp_path / "lake")
    runner = CliRunner()
    made = runner.invoke(
        main,
        [
            "simulate",
            "--env",
            "staging",
            "--days",
            "21",
            "--weekly-strain",
            "--startups-per-hour",
            "0.2",
            "--out",
            str(export),
        ],
    )
    assert made.exit_code == 0, made.output
    import_paths([export], env="staging", store=Store(Path(lake)))
    out = runner.invoke(main, ["capacity", "--env", "staging", "--store", lake, "--format", "json"])
    assert out.exit_code == 0, out.output
    share = [r["strained_share"] for r in json.loads(out.output)["hour_of_week"]]
    weekday = np.mean([share[d * 24 + h] for d in range(5) for h in range(13, 22)])
    weekend = np.mean([share[d * 24 + h] for d in (5, 6) for h in range(13, 22)])
    assert weekday > 0.45 and weekend < 0.3, (weekday, weekend)


def test_an_env_with_no_vpc_states_says_so(tmp_path: Path) -> None:
    started = entry({"event": "startup_started", "env": "staging"}, t=0, instance="a")
    ended = entry({"event": "startup_completed", "env": "staging"}, t=12, instance="a")
    source = write_ndjson(tmp_path / "no-vpc.jsonl", [started, ended])
    import_paths([source], env="staging", store=Store(tmp_path / "lake"))
    out = CliRunner().invoke(
        main, ["capacity", "--env", "staging", "--store", str(tmp_path / "lake")]
    )
    assert out.exit_code == 0, out.output
    assert "no VPC connector state known in the window" in out.output
    assert "too little history for a forecast" in out.output


def test_the_monitor_logs_instances_against_max_with_each_change(
    fresh_runtime: None, caplog: pytest.LogCaptureFixture
) -> None:
    """What capacity reads to tell a connector at its max while strained."""
    reading = VpcReading(
        instances=10.0,
        instances_at_start=8.0,
        cpu_utilization=0.8,
        min_instances=2,
        max_instances=10,
        connector_state="READY",
        throughput_bytes_per_s=None,
        newest_point_age_s=30.0,
    )
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        emit_state_change("staging")("healthy", "pressure", reading)
    [payload] = [r.telemetry for r in caplog.records if hasattr(r, "telemetry")]
    assert payload["vpc_instances"] == 10.0 and payload["vpc_max_instances"] == 10
