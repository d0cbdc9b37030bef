"""`recommend` and `history`: on a hand-made lake whose answer is plain, and on the sample."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from analyzer.analysis.estimate import estimate_durations
from analyzer.cli import main
from analyzer.engine import local_engine
from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from analyzer.recommend.history import load_history
from analyzer.recommend.model import PhaseTimeout, Recommendation
from analyzer.recommend.policy import Policy
from analyzer.recommend.timeouts import recommend, recommended_timeout
from analyzer.simulate import PHASE3_LAWS, SimulationSpec, write_export
from tests.conftest import entry, write_ndjson


def _attempt(n: int, state: str, duration: float, outcome: str = "completed") -> list[dict]:
    inst = f"{state}-{n}"
    start = {"event": "phase_started", "phase": 3, "vpc_state": state, "timeout_s": 60.0}
    if outcome == "completed":
        end = {"event": "phase_completed", "phase": 3, "duration_s": duration}
    else:
        end = {"event": "phase_failed", "phase": 3, "duration_s": duration, "outcome": outcome}
    return [entry(start, t=n * 100, instance=inst), entry(end, t=n * 100 + duration, instance=inst)]


@pytest.fixture
def hand_lake(tmp_path: Path, store: Store) -> Store:
    """40 healthy attempts taking 1, 2, ... 40 s; 10 pressure attempts (too few)."""
    entries = [e for n in range(1, 41) for e in _attempt(n, "healthy", float(n))]
    entries += [e for n in range(41, 51) for e in _attempt(n, "pressure", 30.0)]
    import_paths([write_ndjson(tmp_path / "e.jsonl", entries)], env="staging", store=store)
    return store


def _phase3(rec: Recommendation) -> dict[str, PhaseTimeout]:
    return {
        t.vpc_state: t for t in rec.timeouts if t.phase == 3 and t.operation == "initialization"
    }


def test_hand_made_lake(hand_lake: Store) -> None:
    rec = recommend(engine=local_engine(hand_lake), env="staging")
    rows = _phase3(rec)
    assert set(rows) == {"healthy", "scaling", "pressure", "critical", "unknown"}
    healthy = rows["healthy"]
    assert (healthy.attempts, healthy.completed, healthy.censored) == (40, 40, 0)
    assert healthy.quantiles_s.p50 == 20.0 and healthy.quantiles_s.p95 == 38.0
    # Only the longest attempt lies past 39 s: the p99 is not read off the curve's final
    # drop to zero at 40 s but from the fitted tail joined on at 39 s.
    assert healthy.methods.p99 == "lognormal-tail"
    assert healthy.quantiles_s.p99 is not None and healthy.quantiles_s.p99 > 40.0
    assert healthy.current_timeout_s == 60.0
    assert healthy.timeout_rate_current is not None and 0.0 < healthy.timeout_rate_current < 0.05
    assert healthy.timeout_s is not None and healthy.raw_timeout_s is not None
    assert healthy.timeout_s == min(math.ceil(healthy.raw_timeout_s), 240.0)
    # Too few attempts for a number of its own, never the healthy state's number: ten
    # identical attempts bound nothing (no tail shape), so not the runtime's built-in default
    # (95 s) they cannot vouch for but the ceiling, said; a state without attempts keeps its
    # default; unknown takes the most demanding, carried over or not.
    pressure = rows["pressure"]
    assert pressure.methods.p99 == "insufficient-data" and pressure.attempts == 10
    assert (pressure.timeout_s, pressure.source, pressure.own_bound_s) == (
        240.0,
        "recommended",
        240.0,
    )
    assert pressure.clamped == "ceiling"
    assert any(w.kind == "thin-evidence" and "10 attempts" in w.message for w in rec.warnings)
    assert (rows["critical"].timeout_s, rows["critical"].source) == (115.0, "default")
    unknown = rows["unknown"]
    assert unknown.timeout_s == max(240.0, healthy.timeout_s)
    quantile_rule = recommend(
        engine=local_engine(hand_lake), env="staging", policy=Policy(target_rate=None)
    )
    healthy = _phase3(quantile_rule)["healthy"]
    assert healthy.widened and healthy.ci_s[1] is not None and healthy.quantiles_s.p99 is not None
    assert healthy.timeout_s == min(math.ceil(healthy.ci_s[1] * 1.2), 240.0)


def test_censored_attempts_raise_the_estimate(tmp_path: Path, store: Store) -> None:
    """Ten attempts cut at 20 s carry information: the p50 moves past the completed ones."""
    entries = [e for n in range(1, 21) for e in _attempt(n, "healthy", float(n % 10 + 5))]
    entries += [e for n in range(21, 41) for e in _attempt(n, "healthy", 20.0, "timeout")]
    import_paths([write_ndjson(tmp_path / "e.jsonl", entries)], env="staging", store=store)
    row = _phase3(recommend(engine=local_engine(store), env="staging"))["healthy"]
    assert row.censored == 20
    assert row.methods.p50 == "kaplan-meier" and row.methods.p90 == "lognormal-tail"
    assert row.quantiles_s.p90 is not None and row.quantiles_s.p90 > 20.0


def test_timeout_rounding_widening_and_clamping() -> None:
    import numpy as np

    gen = np.random.default_rng(5)
    estimate = estimate_durations(
        gen.lognormal(math.log(20.0), 0.3, 300), np.ones(300, dtype=bool), min_attempts=20
    )
    p99 = estimate.quantile(0.99)[0]
    upper = estimate.quantile_ci(0.99, 0.95)[1]
    assert p99 is not None and upper is not None and upper > p99
    quantile_rule = Policy(target_rate=None)
    choice = recommended_timeout(estimate, quantile_rule)
    assert choice.raw_s == pytest.approx(p99 * 1.2) and not choice.widened
    assert choice.timeout_s == math.ceil(p99 * 1.2) and choice.clamped is None
    coarse = recommended_timeout(estimate, Policy(target_rate=None, step_s=5))
    assert coarse.timeout_s == 5 * math.ceil(p99 * 1.2 / 5)
    wide = recommended_timeout(estimate, Policy(target_rate=None, few_attempts=1000))
    assert wide.widened and wide.timeout_s == math.ceil(upper * 1.2)
    floor = recommended_timeout(estimate, Policy(target_rate=None, floor_s=100, ceiling_s=200))
    assert (floor.timeout_s, floor.clamped) == (100.0, "floor")
    ceiling = recommended_timeout(estimate, Policy(ceiling_s=10))
    assert (ceiling.timeout_s, ceiling.clamped) == (10.0, "ceiling")
    assert ceiling.raw_s is not None and ceiling.raw_s > 10
    by_rate = recommended_timeout(estimate, Policy())
    assert by_rate.timeout_s is not None and by_rate.raw_s is not None
    assert estimate.survival_upper(by_rate.raw_s, 0.95) == pytest.approx(0.005, abs=5e-4)
    none = estimate_durations(np.array([1.0]), np.array([True]), min_attempts=20)
    assert recommended_timeout(none, Policy()).timeout_s is None


def test_json_keys_automation_relies_on(hand_lake: Store) -> None:
    result = CliRunner().invoke(
        main, ["recommend", "--env", "staging", "--store", str(hand_lake.root), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"env", "window", "policy", "timeouts", "breaker"} <= set(data)
    assert set(data["window"]) == {"start", "end"}
    assert {"target_quantile", "margin", "floor_s", "ceiling_s"} <= set(data["policy"])
    row = data["timeouts"][0]
    assert {
        "phase",
        "operation",
        "vpc_state",
        "attempts",
        "completed",
        "censored",
        "quantiles_s",
        "methods",
        "ci_s",
        "current_timeout_s",
        "timeout_s",
        "timeout_rate_current",
        "timeout_rate_recommended",
    } <= set(row)
    assert set(row["quantiles_s"]) == set(row["methods"]) == {"p50", "p90", "p95", "p99"}
    assert len(row["ci_s"]) == 2
    assert {"failure_threshold", "recovery_timeout_s", "half_open_max_calls", "evidence"} <= set(
        data["breaker"]
    )


def test_yaml_and_table(hand_lake: Store) -> None:
    runner = CliRunner()
    args = ["recommend", "--env", "staging", "--store", str(hand_lake.root)]
    as_yaml = yaml.safe_load(runner.invoke(main, [*args, "--format", "yaml"]).stdout)
    assert as_yaml["env"] == "staging"
    table = runner.invoke(main, args).output
    assert "Warnings" in table and "failure_threshold" in table and "model:" in table


def test_history_appends_each_run(hand_lake: Store) -> None:
    runner = CliRunner()
    for margin in ("0.2", "0.5"):
        result = runner.invoke(
            main,
            [
                *("recommend", "--env", "staging", "--store", str(hand_lake.root)),
                *("--margin", margin, "--save"),
            ],
        )
        assert result.exit_code == 0, result.output
    runs = load_history(hand_lake, "staging")
    assert [r.policy.margin for r in runs] == [0.2, 0.5]
    assert [r.policy.target_rate for r in runs] == [None, None]  # --margin: the quantile rule
    moved = [next(t for t in r.timeouts if t.vpc_state == "healthy").timeout_s for r in runs]
    shown = runner.invoke(main, ["history", "--env", "staging", "--store", str(hand_lake.root)])
    assert shown.exit_code == 0, shown.output
    assert f"{moved[0]:g} -> {moved[1]:g} s" in shown.output
    as_json = json.loads(
        runner.invoke(
            main,
            ["history", "--env", "staging", "--store", str(hand_lake.root), "--format", "json"],
        ).stdout
    )
    assert len(as_json) == 2


def test_no_data_exits_3_naming_the_store(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["recommend", "--env", "staging", "--store", str(tmp_path / "x")]
    )
    assert result.exit_code == 3
    assert str(tmp_path / "x") in result.output and "analyze import" in result.output


def test_bad_policy_is_one_clear_line(hand_lake: Store) -> None:
    result = CliRunner().invoke(
        main, ["recommend", "--env", "staging", "--store", str(hand_lake.root), "--margin", "-1"]
    )
    assert result.exit_code == 2  # a bad flag value is a usage error
    assert "margin" in result.output and "Traceback" not in result.output


def test_half_life_weighs_recent_attempts_more(tmp_path: Path, store: Store) -> None:
    """Old attempts took 10 s, recent ones 30 s: with a short half-life the median follows
    the recent ones."""
    old = [e for n in range(1, 41) for e in _attempt(n, "healthy", 10.0)]
    recent = [e for n in range(1, 41) for e in _attempt(n + 2000, "healthy", 30.0)]
    import_paths([write_ndjson(tmp_path / "e.jsonl", old + recent)], env="staging", store=store)
    engine = local_engine(store)
    plain = _phase3(recommend(engine=engine, env="staging"))["healthy"].quantiles_s.p50
    decayed = _phase3(
        recommend(engine=engine, env="staging", policy=Policy(half_life_days=0.5 / 24))
    )["healthy"].quantiles_s.p50
    # the old attempts still weigh a little: the exact weighted fit is 30 s to 1e-5
    assert plain == 10.0 and decayed == pytest.approx(30.0, rel=1e-4)


@pytest.mark.slow
def test_recommendation_on_simulated_data_finds_the_laws(tmp_path: Path, store: Store) -> None:
    """A busy simulated staging: estimated phase-3 p95 and p99 per state within 10 % of the
    laws the generator drew from, extrapolated ones flagged."""
    spec = SimulationSpec(env="staging", days=14, startups_per_hour=40, seed=5)
    write_export(spec, tmp_path / "busy.jsonl.gz")
    import_paths([tmp_path / "busy.jsonl.gz"], env="staging", store=store)
    rec = recommend(engine=local_engine(store), env="staging", since="14d")
    for row in (t for t in _phase3(rec).values() if t.vpc_state in PHASE3_LAWS):
        law = PHASE3_LAWS[row.vpc_state]
        for key, q in (("p95", 0.95), ("p99", 0.99)):
            value = getattr(row.quantiles_s, key)
            assert abs(value - law.quantile(q)) / law.quantile(q) < 0.10, (
                row.vpc_state,
                key,
                value,
            )
            if law.quantile(q) > 75.0:
                assert getattr(row.methods, key) == "lognormal-tail"


@pytest.mark.slow
def test_warnings_reach_the_json_and_the_table(tmp_path: Path, store: Store) -> None:
    """Through the whole path (export, import, recommend): phase 3 got 1.5x slower in every
    state halfway through the window, and the timeout was raised from 20 s to 75 s then too.
    The run starts each changed state's window at the change point and says so by state
    (with --half-life as the alternative), the raised timeout alone is not a change, and
    with --half-life the whole window is weighed instead."""
    from analyzer.simulate import DurationLaw, ShiftingLaw

    slower = {
        state: ShiftingLaw(law, DurationLaw(1.5 * law.median_s, law.sigma))
        for state, law in PHASE3_LAWS.items()
    }
    spec = SimulationSpec(env="staging", days=6, startups_per_hour=15, seed=3, phase3_laws=slower)
    write_export(spec, tmp_path / "shift.jsonl.gz")
    import_paths([tmp_path / "shift.jsonl.gz"], env="staging", store=store)
    args = ["recommend", "--env", "staging", "--store", str(store.root), "--since", "6d"]
    data = json.loads(CliRunner().invoke(main, [*args, "--format", "json"]).stdout)
    drift = [w for w in data["warnings"] if w["kind"] == "drift"]
    assert {w["vpc_state"] for w in drift} >= {"healthy", "pressure"}
    assert all(w["phase"] == 3 and "--half-life" in w["message"] for w in drift)
    assert any(w["kind"] == "joint-coverage" for w in data["warnings"])
    table = CliRunner().invoke(main, args).stdout
    assert "Warnings (" in table and "window starts at the change point" in table
    remedied = json.loads(
        CliRunner().invoke(main, [*args, "--half-life", "1d", "--format", "json"]).stdout
    )
    assert not [w for w in remedied["warnings"] if w["kind"] == "drift"]


def test_one_policy_at_a_time(hand_lake: Store) -> None:
    args = ["recommend", "--env", "staging", "--store", str(hand_lake.root)]
    both = CliRunner().invoke(main, [*args, "--target-rate", "0.01", "--margin", "0.2"])
    assert both.exit_code != 0 and "give one" in both.output
    rate = json.loads(
        CliRunner().invoke(main, [*args, "--target-rate", "0.01", "--format", "json"]).stdout
    )
    assert rate["policy"]["target_rate"] == 0.01
    assert all(
        t["timeout_rate_recommended_upper"] <= 0.01 + 1e-9
        for t in rate["timeouts"]
        if t["source"] == "recommended" and t["clamped"] is None
    )


def test_a_run_recorded_before_target_rates_reads_as_the_quantile_rule(hand_lake: Store) -> None:
    from analyzer.recommend.model import Recommendation

    rec = recommend(engine=local_engine(hand_lake), env="staging")
    recorded = rec.model_dump(mode="json")
    del recorded["policy"]["target_rate"], recorded["warnings"]
    assert Recommendation.model_validate(recorded).policy.target_rate is None
    assert Recommendation.model_validate(rec.model_dump(mode="json")).policy.target_rate == 0.005
