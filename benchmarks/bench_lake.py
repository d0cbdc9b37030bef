"""Benchmark: import against a bare DuckDB COPY, import memory, and compaction.

On one generated export (simulated staging, --entries lines of sink NDJSON), in this run:

- import throughput: `analyze import` (in a child process) against a bare DuckDB
  `COPY (SELECT * FROM read_json(...)) TO ... (FORMAT parquet)` of the same file (DuckDB's
  default codec, snappy; the lake's segments are zstd);
- where that time goes: the importer's normaliser alone, streamed into one Parquet file (no
  deduplication, no segment per day), and streamed through DuckDB's PARTITION_BY (env, date);
- memory: peak RSS of each child process, and of `analyze import` of a second export of at
  least 2 GB (--memory-entries lines; goal: under 1 GB);
- small segments: the export imported as many small runs (as frequent `collect` runs leave
  it), a `phase_attempts` query timed before and after `analyze compact`.

    uv run python benchmarks/bench_lake.py --entries 1000000 --workdir /tmp/bench-lake
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from analyzer.engine.local import connect
from analyzer.ingest import import_files
from analyzer.ingest.staging import COLUMN_READER, batch_connection, normaliser_params
from analyzer.lake.compact import compact
from analyzer.lake.sql import load_sql
from analyzer.lake.store import Store
from analyzer.simulate import SimulationSpec, write_export

ENTRIES_PER_STARTUP = 14.8  # telemetry, repeats and noise lines, on average
MARGIN = 1.03  # the generator draws startups at random: aim a little over


def make_export(workdir: Path, entries: int) -> Path:
    """A simulated export of at least `entries` lines (cached in `workdir`)."""
    out = workdir / f"export-{entries}.jsonl"
    if not out.exists() or _lines(out) < entries:
        days, margin = 28, MARGIN
        partial = out.with_name(out.name + ".partial.jsonl")  # a killed run leaves no half file
        while True:
            rate = entries * margin / ENTRIES_PER_STARTUP / (days * 24)
            spec = SimulationSpec(env="staging", days=days, startups_per_hour=rate, seed=77)
            write_export(spec, partial)
            if _lines(partial) >= entries:
                break
            margin *= 1.1  # short (more likely on a small export): aim higher
        partial.rename(out)
    return out


def _lines(path: Path) -> int:
    count = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            count += block.count(b"\n")
    return count


PEAK = "; import resource; print('peak_rss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


# Children may cache bytecode, as an installed package has it: a machine that forbids it
# (PYTHONDONTWRITEBYTECODE) makes every start of `analyze` compile its modules again.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed_child(code: str, *args: str) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of a child Python process running `code`."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code + PEAK, *args],
        check=True,
        capture_output=True,
        text=True,
        env=CHILD_ENV,
    )
    seconds = time.perf_counter() - started
    peak_kb = int(done.stdout.split("peak_rss_kb")[-1])
    return seconds, peak_kb * 1024


IMPORT = (  # `analyze import PATH --env staging --store STORE`, as a user runs it
    "import sys; from analyzer.cli import main; "
    "main(['import', sys.argv[1], '--env', 'staging', '--store', sys.argv[2]], "
    "standalone_mode=False)"
)
COPY = (
    "import sys, duckdb; con = duckdb.connect(); "
    'con.execute("SET VARIABLE src = ?", [sys.argv[1]]); '
    "con.execute(\"COPY (SELECT * FROM read_json(getvariable('src'), "
    "format='newline_delimited')) TO '\" + sys.argv[2] + \"' (FORMAT parquet)\")"
)


# Where the import's time goes: the importer's own normaliser (its reader and
# queries/normalised_entries.sql) streamed straight into Parquet, with no deduplication and no
# in-memory batch: into one file, then into one file per day through DuckDB's PARTITION_BY.
STREAM = (
    "import sys; sys.path.insert(0, sys.argv[3]); "
    "from bench_lake import stream_normalised; stream_normalised(*sys.argv[1:3], sys.argv[4])"
)


def stream_normalised(export: str, out: str, layout: str) -> None:
    shutil.rmtree(out, ignore_errors=True)
    con = batch_connection({export: export}, spill_dir=Path(out + "-spill"))
    con.execute("CREATE TEMP VIEW entry_fields AS " + load_sql(COLUMN_READER))
    by_day = ", PARTITION_BY (env, date)" if layout == "days" else ""
    con.execute(
        "COPY (SELECT * EXCLUDE (disposition, reason, entry_json) FROM ("
        + load_sql("normalised_entries")
        + f") WHERE disposition = 'stored') TO '{out}' "
        f"(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1{by_day})",
        normaliser_params("staging"),
    )
    con.close()


def split(export: Path, folder: Path, parts: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    lines = export.read_text().splitlines(keepends=True)
    size = len(lines) // parts + 1
    paths = []
    for n in range(parts):
        path = folder / f"run-{n:04d}.jsonl"
        path.write_text("".join(lines[n * size : (n + 1) * size]))
        paths.append(path)
    return paths


def query_s(store: Store) -> float:
    con = connect(store)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        con.execute(
            "SELECT vpc_state, count(*), median(duration_s) FROM phase_attempts "
            "WHERE phase = 3 GROUP BY ALL"
        ).fetchall()
        best = min(best, time.perf_counter() - started)
    con.close()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/analyzer-bench-lake"))
    parser.add_argument("--small-runs", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-entries", type=int, default=3_300_000, help="over 2.1 GB")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    export = make_export(args.workdir, args.entries)
    store = args.workdir / "lake"
    shutil.rmtree(store, ignore_errors=True)
    here = str(Path(__file__).resolve().parent)
    streamed = str(args.workdir / "normalised")
    copies, imports, one_file, by_day = [], [], [], []
    for _ in range(args.repeat):  # alternating, best of each: this machine is noisy
        copies.append(timed_child(COPY, str(export), str(args.workdir / "bare.parquet")))
        shutil.rmtree(store, ignore_errors=True)
        imports.append(timed_child(IMPORT, str(export), str(store)))
        one_file.append(timed_child(STREAM, str(export), streamed + ".parquet", here, "one"))
        by_day.append(timed_child(STREAM, str(export), streamed, here, "days"))
    copy_s, copy_rss = min(copies)
    ours_s, ours_rss = min(imports)
    one_file_s, by_day_s = min(one_file)[0], min(by_day)[0]

    big = make_export(args.workdir, args.memory_entries)
    shutil.rmtree(store, ignore_errors=True)
    big_s, big_rss = timed_child(IMPORT, str(big), str(store))

    small = Store(args.workdir / "small-lake")
    shutil.rmtree(small.root, ignore_errors=True)
    for path in split(export, args.workdir / "runs", args.small_runs):
        import_files([path], env="staging", store=small)
    segments = len(small.segments("events"))
    before = query_s(small)
    compact(store=small, env="staging")
    after = query_s(small)
    mb = export.stat().st_size / 1e6
    print(
        json.dumps(
            {
                "export_mb": round(mb, 1),
                "export_entries": _lines(export),
                "import_s": round(ours_s, 1),
                "duckdb_copy_s": round(copy_s, 1),
                "import_ratio": round(ours_s / copy_s, 2),
                "import_ratio_goal": 1.5,
                "import_mb_per_s": round(mb / ours_s, 1),
                "normaliser_to_one_file_s": round(one_file_s, 1),
                "normaliser_to_one_file_ratio": round(one_file_s / copy_s, 2),
                "normaliser_partition_by_day_s": round(by_day_s, 1),
                "normaliser_partition_by_day_ratio": round(by_day_s / copy_s, 2),
                "import_peak_rss_mb": round(ours_rss / 1e6),
                "import_peak_rss_goal_mb": 1000,
                "duckdb_copy_peak_rss_mb": round(copy_rss / 1e6),
                "large_export_mb": round(big.stat().st_size / 1e6),
                "large_export_entries": _lines(big),
                "large_import_s": round(big_s, 1),
                "large_import_peak_rss_mb": round(big_rss / 1e6),
                "large_import_peak_rss_goal_mb": 1000,
                "small_segments": segments,
                "query_before_compact_s": round(before, 3),
                "segments_after_compact": len(small.segments("events")),
                "query_after_compact_s": round(after, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
