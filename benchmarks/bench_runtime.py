"""Benchmark: what analyzer.runtime costs the startup it runs in.

Prints the import time of `analyzer.runtime` over a bare interpreter (best of --runs fresh
processes each) and the cost of one timeout lookup.

    uv run python benchmarks/bench_runtime.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import timeit


def best_start_s(code: str, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    bare = best_start_s("pass", args.runs)
    with_runtime = best_start_s("import analyzer.runtime", args.runs)

    from analyzer.runtime import get_capacity_aware_database_timeout

    get_capacity_aware_database_timeout("staging", "initialization", "pressure")
    number = 200_000
    lookup = timeit.timeit(
        lambda: get_capacity_aware_database_timeout("staging", "initialization", "pressure"),
        number=number,
    )
    print(
        json.dumps(
            {
                "bare_interpreter_ms": round(bare * 1000, 1),
                "import_analyzer_runtime_ms": round((with_runtime - bare) * 1000, 1),
                "import_goal_ms": 50,
                "timeout_lookup_us": round(lookup / number * 1e6, 2),
                "lookup_goal_us": 5,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
