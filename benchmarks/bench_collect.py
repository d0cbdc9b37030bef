"""Benchmark: requests per 1,000 entries when collecting, with and without faults.

Runs `collect` with the real google-cloud-logging client against the tests' local Logging API
server (tests/fake_cloud_logging.py) on a simulated day, once clean and once with 429 and 503
answers injected. Goal: 1.0 request per 1,000 entries, plus the retries.

    uv run python benchmarks/bench_collect.py
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analyzer.ingest.collect import CollectRequest, collect
from analyzer.lake.store import Store
from analyzer.simulate import SimulationManifest, SimulationSpec, simulate_entries
from tests.fake_cloud_logging import FakeCloudLogging


def run(entries: list[dict], faults: dict[int, int | str]) -> dict[str, float]:
    fake = FakeCloudLogging(entries=list(entries), faults=faults)
    server, url = fake.serve()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-collect-") as scratch:
            store = Store(Path(scratch) / "lake")
            started = time.perf_counter()
            result = collect(
                CollectRequest(
                    env="staging",
                    project="demo",
                    since="2026-10-26T00:00:00Z",
                    until="2026-10-29T00:00:00Z",
                    api_endpoint=url,
                    anonymous=True,
                    requests_per_minute=60_000,
                    backoff_base_s=0.01,
                ),
                store=store,
            )
            seconds = time.perf_counter() - started
    finally:
        server.shutdown()
    fetched = result.fetched
    return {
        "entries_stored": result.stored.stored,
        "requests": result.requests,
        "retries": result.retries,
        "requests_per_1000_entries": round(1000 * result.requests / max(fetched, 1), 3),
        "requests_per_1000_entries_without_retries": round(
            1000 * (result.requests - result.retries) / max(fetched, 1), 3
        ),
        "goal": "1.0 + retries",
        "entries_per_s": round(fetched / seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=3, help="simulated days to collect")
    args = parser.parse_args()
    spec = SimulationSpec(env="staging", days=args.days, startups_per_hour=60, seed=9)
    manifest = SimulationManifest(env="staging", form="structured", start="", end="")
    entries = list(simulate_entries(spec, manifest))
    print(
        json.dumps(
            {
                "clean": run(entries, {}),
                "with_faults": run(entries, {3: 429, 4: 503, 10: 429, 20: 503}),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
