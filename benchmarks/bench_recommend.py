"""Benchmark: `recommend` over a large lake against bare DuckDB computing the same quantiles.

Builds (once, cached in --workdir) a simulated staging export of about --events telemetry
entries, imports it with `analyze import`, then times, in this one process:

- `recommend()`: the library call behind `analyze recommend --env staging` (views, dedupe,
  attempts, Kaplan-Meier, tail fits, breaker model);
- the lifelines notebook way: the completion and failure events read into pandas, one
  lifelines `KaplanMeierFitter` per (phase, operation, vpc_state), its p99 read off (what an
  SRE notebook does; only where lifelines is installed, see below, else null);
- two bare DuckDB baselines, each reading the same Parquet files straight, per
  (phase, operation, vpc_state) of the completion and failure events:
  * plain: the 0.99 quantile of the completed durations (ignores the censored ones);
  * Kaplan-Meier: the same censoring-aware 0.99 quantile in one SQL statement, with each
    failure event taken as a censored duration.

The baselines do far less than `recommend` (no deduplication, no attempts assembled from their
events, no text form, no VPC timeline, no tail fit, no breaker): the ratios say what the whole
answer costs over the cheapest ones. Goals: at most 0.25x the lifelines way, 3x the SQL
Kaplan-Meier. lifelines is no dependency of the project; the run with it:

    uv run --with lifelines python benchmarks/bench_recommend.py --events 1000000 \
        --workdir /tmp/bench-1m
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
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


LIFELINES_EVENTS = """
SELECT phase, coalesce(operation, 'initialization') AS operation, vpc_state, duration_s,
       event = 'phase_completed' AS observed
FROM read_parquet(?)
WHERE env = 'staging' AND event IN ('phase_completed', 'phase_failed') AND duration_s IS NOT NULL
"""


def lifelines_seconds(store: Store) -> float | None:
    """The notebook way: events into pandas, a KaplanMeierFitter per group, its p99; None
    where lifelines is not installed."""
    try:
        from lifelines import KaplanMeierFitter
    except ImportError:
        return None
    files = [str(p) for p in store.segments("events")]
    started = time.perf_counter()
    frame = duckdb.connect().execute(LIFELINES_EVENTS, [files]).df()
    for _, group in frame.groupby(["phase", "operation", "vpc_state"]):
        fitter = KaplanMeierFitter().fit(group["duration_s"], group["observed"])
        fitter.percentile(0.01)  # S(t) = 0.01: the p99
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
    ours, plain, km, notebook = [], [], [], []
    for _ in range(args.repeat):
        started = time.perf_counter()
        rec = recommend(engine=local_engine(store), env="staging", since=f"{DAYS + 1}d")
        ours.append(time.perf_counter() - started)
        plain.append(baseline_seconds(store, PLAIN_P99))
        km.append(baseline_seconds(store, KAPLAN_MEIER_P99))
        notebook.append(lifelines_seconds(store))
    best = min(ours)
    lifelines = None if None in notebook else min(t for t in notebook if t is not None)
    figures = {
        "events": count,
        "segments": len(files),
        "phase_attempts": sum(t.attempts for t in rec.timeouts if t.vpc_state != "unknown"),
        "recommend_s": round(best, 2),
        "duckdb_plain_p99_s": round(min(plain), 2),
        "ratio_to_plain_p99": round(best / min(plain), 1),
        "duckdb_kaplan_meier_p99_s": round(min(km), 2),
        "ratio_to_kaplan_meier_p99": round(best / min(km), 1),
        "ratio_goal": 3.0,
        "lifelines_notebook_p99_s": None if lifelines is None else round(lifelines, 2),
        "ratio_to_lifelines": None if lifelines is None else round(best / lifelines, 2),
        "lifelines_ratio_goal": 0.25,
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
