"""Benchmark: `recommend` over a large lake against bare DuckDB computing the same quantiles.

Builds (once, cached in --workdir) a simulated staging export of about --events telemetry
entries, imports it with `analyze import`, then times, in this one process:

- `recommend()`: the library call behind `analyze recommend --env staging` (views, dedupe,
  attempts, Kaplan-Meier, tail fits, breaker model);
- the lifelines notebook way, as an SRE notebook does it (only where lifelines is installed, see
  below, else null): the env's phase events and VPC state changes read into pandas (through
  DuckDB, only the columns used), attempts assembled there (each startup's first
  `phase_started` of a phase and operation paired with its last completion or failure, the
  VPC state the attempt's events carry, else the one in force at its start from the
  `vpc_state_changed` timeline by `pd.merge_asof`), then one lifelines `KaplanMeierFitter` per
  (phase, operation, vpc_state) env-wide and per (service, phase, operation, vpc_state), as
  `recommend` answers both, its p50, p95 and p99 read off;
- two bare DuckDB baselines, each reading the same Parquet files straight, per
  (phase, operation, vpc_state) of the completion and failure events:
  * plain: the 0.99 quantile of the completed durations (ignores the censored ones);
  * Kaplan-Meier: the same censoring-aware 0.99 quantile in one SQL statement, with each
    failure event taken as a censored duration.

The baselines do less than `recommend` (no deduplication, no text form's context lines, no
confidence bands, tail fits, drift test or breaker; the SQL ones assemble no attempts at all):
the ratios say what the whole answer costs over them. Every side is timed warm, in this one
process: each runs once untimed first (its imports, DuckDB's and the page cache's warm-up),
then --repeat times, alternating, the best taken; no import is counted for any side. Goals:
at most 0.25x the lifelines way, 3x the SQL Kaplan-Meier. lifelines is no dependency of the
project; the run with it:

    uv run --with lifelines python benchmarks/bench_recommend.py --events 1000000 \
        --workdir /tmp/bench-1m
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path

import duckdb

from analyzer.engine import local_engine
from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from analyzer.recommend.timeouts import recommend
from analyzer.simulate import DEFAULT_START, SimulationSpec, write_export

DAYS = 28
TELEMETRY_PER_STARTUP = 12.8  # what the generator writes per startup, on average
MARGIN = 1.03  # the generator draws startups at random: aim a little over


def _simulate_part(args: tuple[int, int, float, str]) -> int:
    index, days, rate, out = args
    spec = SimulationSpec(
        env="staging",
        days=days,
        seed=1000 + index,
        start=DEFAULT_START + timedelta(days=index * days),
        startups_per_hour=rate,
    )
    return write_export(spec, Path(out)).telemetry_entries


def lake_events(store: Store) -> int:
    files = [str(p) for p in store.segments("events")]
    if not files:
        return 0
    con = duckdb.connect()
    ((count,),) = con.execute("SELECT count(*) FROM read_parquet(?)", [files]).fetchall()
    return int(count)


def build_lake(workdir: Path, events: int, workers: int) -> Store:
    """A lake of at least `events` events (cached in `workdir`, rebuilt if smaller)."""
    store = Store(workdir / "lake")
    if lake_events(store) >= events:
        return store
    shutil.rmtree(store.root, ignore_errors=True)
    exports = workdir / "exports"
    shutil.rmtree(exports, ignore_errors=True)
    exports.mkdir(parents=True)
    rate = events * MARGIN / TELEMETRY_PER_STARTUP / (DAYS * 24)
    days = DAYS // workers
    jobs = [(i, days, rate, str(exports / f"part-{i}.jsonl")) for i in range(workers)]
    started = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        written = sum(pool.map(_simulate_part, jobs))
    print(f"simulated {written:,} telemetry entries in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    result = import_paths([exports], env="staging", store=store)
    print(f"imported: {result.summary_line()} in {time.perf_counter() - started:.0f} s")
    if lake_events(store) < events:
        raise SystemExit(f"the generator wrote fewer than {events:,} events: raise MARGIN")
    return store


PLAIN_P99 = """
SELECT phase, operation, vpc_state, quantile_cont(duration_s, 0.99)
FROM read_parquet(?) WHERE env = 'staging' AND event = 'phase_completed'
GROUP BY ALL
"""

KAPLAN_MEIER_P99 = """
WITH ends AS (
    SELECT phase, coalesce(operation, 'initialization') AS operation, vpc_state, duration_s,
           event = 'phase_completed' AS observed
    FROM read_parquet(?)
    WHERE env = 'staging' AND event IN ('phase_completed', 'phase_failed')
      AND duration_s IS NOT NULL
),
by_time AS (
    SELECT phase, operation, vpc_state, duration_s, count(*) AS n,
           count(*) FILTER (WHERE observed) AS d
    FROM ends GROUP BY ALL
),
risk AS (
    SELECT *, sum(n) OVER (PARTITION BY phase, operation, vpc_state ORDER BY duration_s DESC)
        AS at_risk
    FROM by_time
),
curve AS (
    SELECT *, exp(sum(ln(greatest(1 - d / at_risk, 1e-300)))
        OVER (PARTITION BY phase, operation, vpc_state ORDER BY duration_s)) AS survival
    FROM risk
)
SELECT phase, operation, vpc_state, min(duration_s) FILTER (WHERE survival <= 0.01) AS p99
FROM curve GROUP BY ALL
"""


NOTEBOOK_EVENTS = """
SELECT ts, event, startup_id, service, phase, coalesce(operation, 'initialization') AS operation,
       duration_s, vpc_state
FROM read_parquet(?)
WHERE env = 'staging'
  AND event IN ('phase_started', 'phase_completed', 'phase_failed', 'vpc_state_changed')
"""
QUANTILES = (0.5, 0.95, 0.99)


def lifelines_seconds(store: Store) -> float | None:
    """The notebook way (see the module's docstring); None where lifelines is not installed."""
    try:
        import pandas as pd
        from lifelines import KaplanMeierFitter
    except ImportError:
        return None
    files = [str(p) for p in store.segments("events")]
    started = time.perf_counter()
    events = duckdb.connect().execute(NOTEBOOK_EVENTS, [files]).df().sort_values("ts")
    keys = ["startup_id", "phase", "operation"]
    starts = events[events["event"] == "phase_started"].drop_duplicates(keys)
    ends = events[events["event"].isin(["phase_completed", "phase_failed"])]
    attempts = starts[[*keys, "service", "ts", "vpc_state"]].merge(
        ends.drop_duplicates(keys, keep="last")[[*keys, "event", "duration_s", "vpc_state"]],
        on=keys,
        suffixes=("", "_end"),
    )
    attempts = attempts.dropna(subset=["duration_s"])
    timeline = events.loc[events["event"] == "vpc_state_changed", ["ts", "vpc_state"]]
    attempts = pd.merge_asof(
        attempts.sort_values("ts"), timeline, on="ts", suffixes=("", "_timeline")
    )
    attempts["vpc_state"] = (
        attempts["vpc_state"]
        .fillna(attempts["vpc_state_end"])
        .fillna(attempts["vpc_state_timeline"])
        .fillna("unknown")
    )
    attempts["observed"] = attempts["event"] == "phase_completed"
    fitter = KaplanMeierFitter()
    with warnings.catch_warnings():  # lifelines warns that it reads percentiles off the curve
        warnings.simplefilter("ignore")
        for by in (
            ["phase", "operation", "vpc_state"],
            ["service", "phase", "operation", "vpc_state"],
        ):
            for _, group in attempts.groupby(by):
                fitter.fit(group["duration_s"], group["observed"])
                for q in QUANTILES:
                    fitter.percentile(1 - q)  # S(t) = 1 - q: the q-quantile
    return time.perf_counter() - started


def baseline_seconds(store: Store, query: str) -> float:
    con = duckdb.connect()
    files = [str(p) for p in store.segments("events")]
    started = time.perf_counter()
    con.execute(query, [files]).fetchall()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/analyzer-bench-recommend"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    store = build_lake(args.workdir, args.events, args.workers)
    files = store.segments("events")
    count = lake_events(store)

    def ours() -> float:
        started = time.perf_counter()
        recommend(engine=local_engine(store), env="staging", since=f"{DAYS + 1}d")
        return time.perf_counter() - started

    sides: dict[str, Callable[[], float | None]] = {
        "recommend": ours,
        "plain": lambda: baseline_seconds(store, PLAIN_P99),
        "kaplan_meier": lambda: baseline_seconds(store, KAPLAN_MEIER_P99),
        "lifelines": lambda: lifelines_seconds(store),
    }
    for side in sides.values():  # warm-up, untimed: imports, DuckDB, the page cache
        side()
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.repeat):
        for name, side in sides.items():
            took = side()
            if took is not None:
                times[name].append(took)
    best, plain, km = min(times["recommend"]), min(times["plain"]), min(times["kaplan_meier"])
    lifelines = min(times["lifelines"], default=None)
    rec = recommend(engine=local_engine(store), env="staging", since=f"{DAYS + 1}d")
    figures = {
        "events": count,
        "segments": len(files),
        # the env-wide rows (a service's rows repeat them; `unknown` repeats a known state's)
        "phase_attempts": sum(
            t.attempts for t in rec.timeouts if t.service is None and t.vpc_state != "unknown"
        ),
        "recommend_s": round(best, 2),
        "duckdb_plain_p99_s": round(plain, 2),
        "ratio_to_plain_p99": round(best / plain, 1),
        "duckdb_kaplan_meier_p99_s": round(km, 2),
        "ratio_to_kaplan_meier_p99": round(best / km, 1),
        "ratio_goal": 3.0,
        "timing": "warm (imports done, each side run once before), best of --repeat, alternating",
        "lifelines_notebook_s": None if lifelines is None else round(lifelines, 2),
        "ratio_to_lifelines": None if lifelines is None else round(best / lifelines, 2),
        "lifelines_ratio_goal": 0.25,
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
