"""The benchmark scripts still run end to end and print every figure with its goal (at a tiny
size: the figures themselves are for the README, not for this suite)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run_benchmark(name: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout[done.stdout.index("{") :])


@pytest.mark.slow
def test_bench_lake(tmp_path: Path) -> None:
    figures = run_benchmark(
        "bench_lake.py",
        *("--entries", "3000", "--memory-entries", "4000", "--small-runs", "4"),
        *("--repeat", "1", "--workdir", str(tmp_path)),
    )
    assert figures["export_entries"] >= 3000 and figures["large_export_entries"] >= 4000
    assert figures["import_ratio_goal"] == 1.5
    assert figures["import_peak_rss_goal_mb"] == figures["large_import_peak_rss_goal_mb"] == 1000
    for name in (
        "import_ratio",
        "normaliser_to_one_file_ratio",
        "normaliser_partition_by_day_ratio",
    ):
        assert figures[name] > 0
    assert figures["small_segments"] > figures["segments_after_compact"] > 0


@pytest.mark.slow
def test_bench_recommend(tmp_path: Path) -> None:
    figures = run_benchmark(
        "bench_recommend.py",
        *("--events", "20000", "--workers", "1", "--repeat", "1", "--workdir", str(tmp_path)),
    )
    assert figures["events"] >= 20000 and figures["phase_attempts"] > 0
    assert figures["ratio_goal"] == 3.0
    assert figures["ratio_to_kaplan_meier_p99"] > 0 and figures["ratio_to_plain_p99"] > 0
    assert figures["lifelines_ratio_goal"] == 0.25 and figures["timing"].startswith("warm")


@pytest.mark.slow
def test_bench_runtime() -> None:
    figures = run_benchmark("bench_runtime.py", "--runs", "2")
    assert (figures["import_goal_ms"], figures["lookup_goal_us"]) == (50, 5)
    assert figures["timeout_lookup_us"] > 0


@pytest.mark.slow
def test_bench_collect() -> None:
    figures = run_benchmark("bench_collect.py", "--days", "1")
    for run in (figures["clean"], figures["with_faults"]):
        assert run["goal"] == "1.0 + retries" and run["entries_stored"] > 0
    assert figures["clean"]["retries"] == 0 and figures["with_faults"]["retries"] > 0


@pytest.mark.slow
def test_bench_startup() -> None:
    figures = run_benchmark("bench_startup.py", "--runs", "1", "--days", "1")
    assert figures["bare_import_duckdb_s"] > 0
    for name in ("--help", "--version", "summary", "history", "export --check"):
        assert figures[name]["goal_s"] == 0.3
        assert {"over_bare_s", "over_bare_cpu_s"} <= set(figures[name])
    assert figures["recommend"]["goal_s"] is None


@pytest.mark.slow
def test_capacity_audit() -> None:
    figures = run_benchmark("capacity_audit.py", "--seeds", "2")
    assert figures["seeds"] == 2 and figures["gain_goal"] == 0.20
    assert figures["busy_to_quiet_forecast_ratio_min"] >= figures["busy_to_quiet_goal"]
