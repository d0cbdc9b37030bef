"""Attempts read as counts per distinct duration give the estimates, the log-rank test and the
recommended timeouts that the same attempts give one row each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from analyzer.analysis import attempts as attempts_module
from analyzer.analysis.attempts import load_attempt_groups
from analyzer.analysis.estimate import estimate_durations
from analyzer.analysis.stats.logrank import logrank
from analyzer.cli import main
from analyzer.engine import local_engine
from analyzer.lake.store import Store
from analyzer.simulate import DurationLaw

SEEDS = range(20)
FORMAT = ("--format", "json")


def _drawn(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Attempts of a known law as a service logs them (centiseconds), cut at a timeout that
    changes mid-way, over 14 days: duration, observed, day."""
    gen = np.random.default_rng(seed)
    n = int(gen.integers(200, 2000))
    law = DurationLaw(median_s=float(gen.uniform(2, 20)), sigma=float(gen.uniform(0.3, 1.0)))
    day = gen.integers(0, 14, n)
    timeout = np.where(day < 7, law.quantile(0.97), law.quantile(0.995))
    duration = np.round(np.minimum(law.sample(gen, n), timeout), 2)
    return duration, duration < np.round(timeout, 2), day


def _counted(
    duration: np.ndarray, observed: np.ndarray, day: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    keys, counts = np.unique(np.stack([duration, observed, day]), axis=1, return_counts=True)
    return keys[0], keys[1].astype(bool), keys[2], counts


@pytest.mark.parametrize("half_life_days", [None, 3.0])
def test_estimates_over_counts_equal_estimates_over_rows(half_life_days: float | None) -> None:
    for seed in SEEDS:
        duration, observed, day = _drawn(seed)
        d, o, dd, counts = _counted(duration, observed, day)
        weight = (
            (lambda x: np.ones(x.size))
            if half_life_days is None
            else (lambda x: 0.5 ** ((14 - x) / half_life_days))
        )
        rows = estimate_durations(duration, observed, weight(day), min_attempts=20)
        counted = estimate_durations(d, o, weight(dd), min_attempts=20, counts=counts)
        assert (counted.attempts, counted.completed) == (rows.attempts, rows.completed)
        assert counted.effective_attempts == pytest.approx(rows.effective_attempts, rel=1e-12)
        assert rows.km is not None and counted.km is not None
        np.testing.assert_array_equal(counted.km.times, rows.km.times)
        np.testing.assert_allclose(counted.km.survival, rows.km.survival, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(counted.km.greenwood, rows.km.greenwood, rtol=1e-9)
        for q in (0.5, 0.9, 0.99, 0.999):
            assert counted.quantile(q)[0] == pytest.approx(rows.quantile(q)[0], rel=1e-6)
            for a, b in zip(counted.quantile_ci(q, 0.95), rows.quantile_ci(q, 0.95), strict=True):
                assert a == pytest.approx(b, rel=1e-6)
        assert counted.time_for_rate(0.005, 0.95) == pytest.approx(
            rows.time_for_rate(0.005, 0.95), rel=1e-6
        )


def test_logrank_over_counts_equals_logrank_over_rows() -> None:
    for seed in SEEDS:
        duration, observed, day = _drawn(seed)
        first = day < 7
        rows = logrank(duration[first], observed[first], duration[~first], observed[~first])
        a, b = (
            _counted(*(x[first] for x in (duration, observed, day))),
            _counted(*(x[~first] for x in (duration, observed, day))),
        )
        counted = logrank(a[0], a[1], b[0], b[1], a[3], b[3])
        assert counted.observed == rows.observed
        assert counted.expected == pytest.approx(rows.expected, rel=1e-12)
        assert counted.variance == pytest.approx(rows.variance, rel=1e-12)


def _recommend(store: Path, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        main,
        ["recommend", "--env", "staging", "--store", str(store), "--no-history", *FORMAT, *args],
    )
    assert result.exit_code == 0, result.output
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def test_recommend_over_counts_gives_the_timeouts_over_rows(recommended_store: Path) -> None:
    rows = _recommend(recommended_store, "--attempt-rows", "rows")
    counted = _recommend(recommended_store, "--attempt-rows", "counts")
    same = ("phase", "operation", "vpc_state", "attempts", "completed", "timeout_s")
    same += ("current_timeout_s", "clamped", "methods")
    assert [{k: t[k] for k in same} for t in counted["timeouts"]] == [
        {k: t[k] for k in same} for t in rows["timeouts"]
    ]
    for a, b in zip(counted["timeouts"], rows["timeouts"], strict=True):
        for q, value in b["quantiles_s"].items():
            assert a["quantiles_s"][q] == (value if value is None else pytest.approx(value, 1e-9))
    assert [w["kind"] for w in counted["warnings"]] == [w["kind"] for w in rows["warnings"]]
    # the breaker: its rates come from the calls' counts and the recommended timeouts
    settings = {k: v for k, v in counted["breaker"].items() if k != "evidence"}
    assert settings == {k: v for k, v in rows["breaker"].items() if k != "evidence"}
    assert counted["breaker"]["evidence"]["calls"] == rows["breaker"]["evidence"]["calls"]


def test_auto_reads_counts_past_its_threshold(
    recommended_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = local_engine(Store(recommended_store))
    start, end, rows = load_attempt_groups(engine, "staging", since="28d", until=None)
    assert all(g.counts is None for g in rows)
    total = engine.attempt_total({"env": "staging", "start": start, "end": end})
    assert total == sum(g.size for g in rows)  # the cheap count is the attempts' number
    monkeypatch.setattr(attempts_module, "AUTO_COUNTS_PAST", total - 1)
    _, _, counted = load_attempt_groups(engine, "staging", since="28d", until=None)
    assert all(g.counts is not None for g in counted)
    assert [g.size for g in counted] == [g.size for g in rows]


def test_services_and_their_pool_over_counts(tmp_path: Path) -> None:
    """Two services (one sparse and slower in a state): each service's rows, the env-wide
    pooled rows and the slower-than-pool test give the same over counts as over rows."""
    from analyzer.ingest import import_paths
    from analyzer.recommend.timeouts import recommend
    from tests.conftest import write_ndjson
    from tests.test_recommend_services import _attempts

    store = Store(tmp_path / "lake")
    entries = _attempts("api", "healthy", [float(n % 20) + 1 for n in range(60)], 0)
    entries += _attempts("api", "pressure", [float(n % 15) + 10 for n in range(45)], 100)
    entries += _attempts("worker", "healthy", [2.0 * (n % 20) + 2 for n in range(60)], 200)
    entries += _attempts("worker", "pressure", [60.0] * 6, 300)
    import_paths([write_ndjson(tmp_path / "e.jsonl", entries)], env="staging", store=store)
    found = {}
    for mode in ("rows", "counts"):
        rec = recommend(engine=local_engine(store, attempt_rows=mode), env="staging")  # type: ignore[arg-type]
        found[mode] = (
            [
                (t.service, t.phase, t.operation, t.vpc_state, t.attempts, t.timeout_s, t.pooled)
                for t in rec.timeouts
            ],
            sorted((w.kind, w.service or "") for w in rec.warnings),
        )
    assert found["counts"] == found["rows"]
    assert ("slower-than-pool", "worker") in found["rows"][1]
    assert {t[0] for t in found["rows"][0]} == {None, "api", "worker"}
