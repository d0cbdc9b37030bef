"""Benchmark: what starting each `analyze` command costs over a bare `import duckdb`.

Builds a small store from simulated exports, then times fresh processes of each command (best
of --runs) beside `python -c "import duckdb"`. Commands that need no statistics (`--help`,
`--version`, `summary`, `history`, `export --check`) must stay under 0.3 s over that bare
interpreter: they must not import scipy. `recommend` and `backtest` are shown for comparison
(they import it, and their time includes the statistics). `summary`, `history` and
`recommend` include reading the store, which grows with --days. Wall time is what a user
waits; CPU time (user + system) is shown beside it, steadier on a busy machine.

    uv run python benchmarks/bench_startup.py
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Children may cache bytecode, as an installed package has it: a machine that forbids it
# (PYTHONDONTWRITEBYTECODE) makes every start of `analyze` compile its modules again.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ANALYZE = "import sys; from analyzer.cli import main; main(sys.argv[1:], prog_name='analyze')"
GOAL_S = 0.3


def once_s(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, check=True, env=CHILD_ENV, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def best_alternating_s(argvs: dict[str, list[str]], runs: int) -> dict[str, tuple[float, float]]:
    """Best wall and best CPU time of `runs` of each, taken in turns so a busy spell hits
    all of them alike (CPU time is the steadier figure on a shared machine)."""
    best = dict.fromkeys(argvs, (float("inf"), float("inf")))
    for _ in range(runs):
        for name, argv in argvs.items():
            wall, cpu = once_s(argv)
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def commands(store: str, config: str) -> dict[str, tuple[list[str], float | None]]:
    """Each command's arguments and its goal over the bare interpreter (None: no goal)."""
    on = ["--env", "staging", "--store", store]
    return {
        "--help": (["--help"], GOAL_S),
        "--version": (["--version"], GOAL_S),
        "summary": (["summary", *on], GOAL_S),
        "history": (["history", *on], GOAL_S),
        "export --check": (["export", "--check", config], GOAL_S),
        "recommend": (["recommend", *on, "--no-history"], None),
        "backtest": (["backtest", *on], None),
    }


def prepare(workdir: Path, days: int) -> tuple[str, str]:
    store, export, config = workdir / "lake", workdir / "staging.jsonl.gz", workdir / "t.json"
    steps = [
        ["simulate", "--env", "staging", "--days", str(days), "--out", str(export)],
        ["import", str(export), "--env", "staging", "--store", str(store)],
        ["recommend", "--env", "staging", "--store", str(store)],
        ["export", "--env", "staging", "--store", str(store), "--out", str(config)],
    ]
    for args in steps:
        subprocess.run(
            [sys.executable, "-c", ANALYZE, *args], check=True, capture_output=True, env=CHILD_ENV
        )
    return str(store), str(config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--days", type=int, default=7, help="Days of simulated telemetry.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        store, config = prepare(Path(tmp), args.days)
        timed = commands(store, config)
        argvs = {"bare": [sys.executable, "-c", "import duckdb"]}
        argvs.update({name: [sys.executable, "-c", ANALYZE, *a] for name, (a, _) in timed.items()})
        if args.runs > 1:  # bytecode cached before anything is timed
            best_alternating_s(argvs, 1)
        best = best_alternating_s(argvs, args.runs)
        bare, bare_cpu = best.pop("bare")
        figures: dict[str, object] = {
            "bare_import_duckdb_s": round(bare, 3),
            "bare_import_duckdb_cpu_s": round(bare_cpu, 3),
        }
        for name, (_, goal) in timed.items():
            wall, cpu = best[name]
            figures[name] = {
                "over_bare_s": round(wall - bare, 3),
                "over_bare_cpu_s": round(cpu - bare_cpu, 3),
                "goal_s": goal,
            }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
