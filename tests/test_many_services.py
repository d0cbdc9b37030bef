"""An env of more services than one config carries (1,000): commands that would work per
service over them all say so in one line and ask for --service; what they do is linear in the
data (the log-rank of each sparse service against the others reads one pool, not the others
again)."""

from __future__ import annotations

import json
import re
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from analyzer.analysis.stats.logrank import LogRankPool, logrank
from analyzer.cli import main
from analyzer.lake.store import Store
from analyzer.recommend.history import append_recommendation, load_history
from tests.conftest import relabelled_sample
from tests.test_config_sections import recommendation

TOO_MANY = r"more than 1,000 \(the most one config carries\); name them with --service"


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The sample's two services spread by instance over 1,200 names (a startup stays whole):
    over 1,000 of them hold attempts."""

    def spread(entry: dict[str, Any]) -> str | None:
        instance = (entry.get("labels") or {}).get("instanceId")
        return f"svc-{zlib.crc32(instance.encode()) % 1200:04d}" if instance else None

    return relabelled_sample(tmp_path_factory.mktemp("crowded"), spread)


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_recommend_and_report_over_every_service_ask_for_names(
    crowded: Store, tmp_path: Path
) -> None:
    at = ("--env", "staging", "--store", str(crowded.root))
    for args in (["recommend", *at], ["report", *at, "--out", str(tmp_path / "r.html")]):
        code, output = _run(*args)
        assert code == 1, output
        (line,) = output.strip().splitlines()[-1:]
        assert len(output.strip().splitlines()) <= 2  # the run it would show, then the error
        assert line.startswith("error: env 'staging' holds 1,")
        assert re.search(TOO_MANY, line), line


@pytest.mark.slow
def test_a_named_service_of_a_crowded_env_is_recommended_and_exported(
    crowded: Store, tmp_path: Path
) -> None:
    at = ("--env", "staging", "--store", str(crowded.root))
    out = ("--out", str(tmp_path / "r.html"))
    code, output = _run("report", *at, *out, "--service", "svc-0007")  # no run saved: a fresh one
    assert code == 0, output
    assert "<h3 id='service-svc-0007'>" in (tmp_path / "r.html").read_text()
    code, output = _run("recommend", *at, "--service", "svc-0007", "--format", "json")
    assert code == 0, output
    (run,) = load_history(crowded, "staging")
    assert {t.service for t in run.timeouts} == {None, "svc-0007"}  # the env-wide rows and its
    code, output = _run("export", *at, "--out", str(tmp_path / "t.json"))
    assert code == 0, output
    assert list(json.loads((tmp_path / "t.json").read_text())["services"]) == ["svc-0007"]


def test_export_of_a_run_with_more_sections_than_a_config_carries(tmp_path: Path) -> None:
    """A run saved before the limit (10,000 services' rows) is one line, not a ValidationError
    (exit 70); its services named are exported."""
    lake = Store(tmp_path / "lake")
    own = {f"svc-{n:05d}": {"healthy": 10.0} for n in range(1_001)}
    append_recommendation(lake, recommendation(own=own))
    at = ("--env", "staging", "--store", str(lake.root), "--out", str(tmp_path / "t.json"))
    code, output = _run("export", *at)
    assert code == 1, output
    assert "run abcd1234 has 1,001 services, more than 1,000" in output
    code, output = _run("export", *at, "--service", "svc-00042")
    assert code == 0, output


@pytest.mark.parametrize("seed", range(40))
def test_one_part_against_the_rest_of_a_pool_is_the_log_rank(seed: int) -> None:
    """LogRankPool.part_against_rest equals logrank(part, rest) with ties, censoring and
    counts, to rounding."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    durations = np.round(rng.lognormal(1.0, 0.7, n), int(rng.integers(0, 3)))
    observed = rng.random(n) < 0.8
    counts = rng.integers(1, 5, n) if seed % 2 else None
    part = rng.permutation(n)[: int(rng.integers(1, n))]
    rest = np.setdiff1d(np.arange(n), part)

    def of(rows: np.ndarray) -> np.ndarray | None:
        return None if counts is None else counts[rows]

    got = LogRankPool.of(durations, observed, counts).part_against_rest(
        durations[part], observed[part], of(part)
    )
    want = logrank(
        durations[part], observed[part], durations[rest], observed[rest], of(part), of(rest)
    )
    for a, b in ((got.observed, want.observed), (got.expected, want.expected)):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12)
    assert got.variance == pytest.approx(want.variance, rel=1e-9, abs=1e-12)


def test_history_of_runs_with_many_services_is_linear(tmp_path: Path) -> None:
    """Two saved runs of 3,000 services (9,000 rows each): history reads each row once (it
    searched every run's rows for each key: some 100 s here; now about a second)."""
    lake = Store(tmp_path / "lake")
    states = {"healthy": 10.0, "pressure": 20.0, "critical": 30.0}
    for n, scale in enumerate((1.0, 2.0)):
        own = {f"svc-{i:05d}": {s: v * scale for s, v in states.items()} for i in range(3_000)}
        run = recommendation(own=own)
        run.run_id = f"run{n:05d}"
        append_recommendation(lake, run)
    started = time.monotonic()
    code, output = _run("history", "--env", "staging", "--store", str(lake.root))
    took_s = time.monotonic() - started
    assert code == 0, output
    assert "svc-02999" in output and "30 -> 60 s" in output
    assert len(output.splitlines()) > 9_000
    assert took_s < 20, took_s
