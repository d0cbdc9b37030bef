"""Benchmark: what starting each `analyze` command costs over a bare `import duckdb`.

Builds a small store from simulated exports, then times fresh processes of each command (best
of --runs) beside `python -c "import duckdb"`. Commands that need no statistics (`--help`,
`--version`, `summary`, `history`, `export --check`) must stay under 0.3 s over that bare
interpreter: they must not import scipy. `recommend` and `backtest` are shown for comparison
(they import it, and their time includes the statistics). `summary, analyzer.toml` is
`summary` as the weekly job runs it, its settings from a project file (whose checks need
pydantic, which `summary` alone does without). `summary`, `history` and
`recommend` include reading the store, which grows with --days. Wall time is what a user
waits; CPU time (user + system) is shown beside it, steadier on a busy machine. A command
that never opens DuckDB (`--help`, `--version`) can start sooner than the bare interpreter:
its figure over it is negative (`wall_s` is the whole time).

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
WITH_PROJECT_FILE = "summary, analyzer.toml"
PROJECT_FILE = """\
[defaults]
store = "lake"

[defaults.policy]
since = "28d"
target-rate = 0.005

[env.staging.policy]
confidence = 0.99
half-life = "7d"
"""


def once_s(argv: list[str], cwd: str | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, check=True, env=CHILD_ENV, capture_output=True, cwd=cwd)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def best_alternating_s(
    argvs: dict[str, list[str]], runs: int, cwds: dict[str, str]
) -> dict[str, tuple[float, float]]:
    """Best wall and best CPU time of `runs` of each (run in its folder of `cwds`, if any),
    taken in turns so a busy spell hits all of them alike (CPU time is the steadier figure on
    a shared machine)."""
    best = dict.fromkeys(argvs, (float("inf"), float("inf")))
    for _ in range(runs):
        for name, argv in argvs.items():
            wall, cpu = once_s(argv, cwds.get(name))
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def commands(store: str, config: str) -> dict[str, tuple[list[str], float | None]]:
    """Each command's arguments and its goal over the bare interpreter (None: no goal)."""
    on = ["--env", "staging", "--store", store]
    return {
        "--help": (["--help"], GOAL_S),
        "--version": (["--version"], GOAL_S),
        "summary": (["summary", *on], GOAL_S),
        # as the weekly job runs it: its settings from the project file, which needs pydantic
        WITH_PROJECT_FILE: (["summary", "--env", "staging"], GOAL_S),
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
    (workdir / "analyzer.toml").write_text(PROJECT_FILE)
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
        cwds = {WITH_PROJECT_FILE: tmp}  # every other command runs where no project file is
        if args.runs > 1:  # bytecode cached before anything is timed
            best_alternating_s(argvs, 1, cwds)
        best = best_alternating_s(argvs, args.runs, cwds)
        bare, bare_cpu = best.pop("bare")
        figures: dict[str, object] = {
            "bare_import_duckdb_s": round(bare, 3),
            "bare_import_duckdb_cpu_s": round(bare_cpu, 3),
        }
        for name, (_, goal) in timed.items():
            wall, cpu = best[name]
            figures[name] = {
                "wall_s": round(wall, 3),
                "over_bare_s": round(wall - bare, 3),
                "over_bare_cpu_s": round(cpu - bare_cpu, 3),
                "goal_s": goal,
            }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
