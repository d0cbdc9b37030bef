"""`collect` with the real google-cloud-logging client against a local Logging API server."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer.cli import main
from analyzer.engine.local import connect
from analyzer.errors import AnalyzerError
from analyzer.ingest.cloud_logging import RequestPacer, build_filter
from analyzer.ingest.collect import CollectRequest, collect
from analyzer.lake.store import Store
from analyzer.simulate import NOISE_LINES, SimulationManifest, SimulationSpec, simulate_entries
from tests.conftest import as_new_server, copy_lake
from tests.fake_cloud_logging import FakeCloudLogging, running

SINCE, UNTIL = "2026-10-26T00:00:00Z", "2026-10-27T00:00:00Z"


def simulated_day(forms: dict[str, int], startups_per_hour: float) -> list[dict]:
    """A day of simulated entries, from one seed per form."""
    found = []
    for form, seed in forms.items():
        spec = SimulationSpec(
            env="staging", days=1, form=form, seed=seed, startups_per_hour=startups_per_hour
        )
        manifest = SimulationManifest(env="staging", form=form, start="", end="")
        found.extend(simulate_entries(spec, manifest))
    return found


def telemetry_ids(entries: list[dict]) -> set[str]:
    """What collect stores of the day: startups just before its end log past it, outside the
    window."""
    return {
        e["insertId"]
        for e in entries
        if e.get("textPayload") not in NOISE_LINES and e["timestamp"] < "2026-10-27"
    }


ENTRIES = simulated_day({"structured": 3, "text": 4}, startups_per_hour=40)
TELEMETRY_IDS = telemetry_ids(ENTRIES)


@pytest.fixture(scope="module")
def _server() -> Iterator[FakeCloudLogging]:
    with running(ENTRIES) as fake:
        yield fake


@pytest.fixture
def cloud(_server: FakeCloudLogging) -> FakeCloudLogging:
    """The module's server, its state as a new server's (no faults, no requests, ENTRIES)."""
    return as_new_server(_server, ENTRIES)


@pytest.fixture(scope="module")
def collected_root(_server: FakeCloudLogging, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The day collected from the module's server without faults into a lake (with its
    checkpoint), once; copy it (`copy_lake`) before writing to it."""
    root = tmp_path_factory.mktemp("collected") / "lake"
    collect(request(as_new_server(_server, ENTRIES)), store=Store(root))
    return root


def request(cloud: FakeCloudLogging, **overrides) -> CollectRequest:
    settings = dict(
        env="staging",
        project="demo",
        since=SINCE,
        until=UNTIL,
        api_endpoint=cloud.url,
        anonymous=True,
        requests_per_minute=60_000,
        backoff_base_s=0.001,
        max_retries=3,
    )
    settings.update(overrides)
    return CollectRequest(**settings)


def cli_args(cloud: FakeCloudLogging, store: Path, *more: str, project: str = "demo") -> list[str]:
    """`analyze collect` arguments for the local server and window."""
    return [
        "collect",
        "--env",
        "staging",
        "--project",
        project,
        "--since",
        SINCE,
        "--until",
        UNTIL,
        "--store",
        str(store),
        "--anonymous",
        "--api-endpoint",
        cloud.url,
        *more,
    ]


def stored_ids(store: Store) -> list[str]:
    con = connect(store)
    try:
        return [r[0] for r in con.execute("SELECT insert_id FROM lake_rows").fetchall()]
    finally:
        con.close()


def test_many_pages_with_faults_store_every_telemetry_entry_once(cloud, store: Store) -> None:
    cloud.faults = {2: 429, 3: 503, 5: "empty", 9: 503, 12: "empty"}
    result = collect(request(cloud), store=store)
    ids = stored_ids(store)
    n = len(TELEMETRY_IDS)
    assert n > 10_000
    assert len(ids) == n and set(ids) == TELEMETRY_IDS
    assert result.retries == 3 and result.stored.stored == n
    empties = sum(1 for f in cloud.faults.values() if f == "empty")
    assert len(cloud.requests) == result.requests
    assert result.requests <= math.ceil(n / 1000) + result.retries + empties + 1
    # Every request carried both bounds, the narrowing, and the API's paging fields.
    for body in cloud.requests:
        assert body["resourceNames"] == ["projects/demo"] and body["pageSize"] == 1000
        assert body["orderBy"] == "timestamp asc"
        assert 'timestamp>="' in body["filter"] and 'timestamp<"2026-10-27' in body["filter"]
        assert "jsonPayload.event:*" in body["filter"]


def test_a_second_run_adds_nothing(collected_root: Path, cloud, tmp_path: Path) -> None:
    store = Store(copy_lake(collected_root, tmp_path))  # the day collected once
    before = len(cloud.requests)
    again = collect(request(cloud, since=None), store=store)  # resumes from the checkpoint
    assert again.stored.stored == 0
    assert again.since == datetime(2026, 10, 26, 23, 55, tzinfo=UTC)  # 5 minutes of overlap
    assert len(cloud.requests) - before == 1
    assert len(stored_ids(store)) == len(TELEMETRY_IDS)


def test_retries_run_out_with_a_clear_message_and_a_resumable_store(cloud, store: Store) -> None:
    cloud.faults = {n: 503 for n in range(4, 9)}
    with pytest.raises(AnalyzerError, match=r"gave up after 3 retries in a row .*503.*saved"):
        collect(request(cloud), store=store)
    partial = stored_ids(store)
    assert 0 < len(partial) < len(TELEMETRY_IDS)
    cloud.faults = {}
    result = collect(request(cloud, since=None), store=store)
    assert result.since < datetime(2026, 10, 27, tzinfo=UTC)
    assert sorted(stored_ids(store)) == sorted(TELEMETRY_IDS)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"project": "nope"}, "unknown project"),
        ({"project": "forbidden"}, "permission denied"),
        ({"extra_filter": "this is not a filter ("}, "filter or a parameter is invalid"),
    ],
)
def test_bad_input_is_one_line_and_stores_nothing(
    cloud, tmp_path: Path, overrides, message
) -> None:
    store = tmp_path / "lake"
    args = cli_args(cloud, store, "--backoff-base-s", "0", project=overrides.get("project", "demo"))
    if "extra_filter" in overrides:
        args += ["--filter", overrides["extra_filter"]]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert message in result.output and "nothing was stored" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not list(store.rglob("*.parquet")) and not (store / "checkpoints").exists()


def test_cli_summary_line(cloud, tmp_path: Path) -> None:
    args = cli_args(
        cloud, tmp_path / "lake", "--requests-per-minute", "60000", "--filter", "severity>=INFO"
    )
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"stored {len(TELEMETRY_IDS):,}" in result.output and "(0 retries)" in result.output


CHILD = """
import sys
from analyzer.cli import main
main(sys.argv[1:])
"""


@pytest.mark.slow
def test_sigkill_part_way_then_again_equals_one_uninterrupted_run(
    collected_root: Path, cloud, tmp_path: Path
) -> None:
    reference = Store(collected_root)  # one uninterrupted run

    crashed = tmp_path / "crashed"
    cloud.delay_s = 0.05
    args = cli_args(cloud, crashed, "--requests-per-minute", "60000")
    child = subprocess.Popen([sys.executable, "-c", CHILD, *args])
    deadline = time.monotonic() + 60
    while not list((crashed / "events").rglob("*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    partial = stored_ids(Store(crashed))
    assert 0 < len(partial) < len(TELEMETRY_IDS)

    cloud.delay_s = 0.0
    again = [a for a in args if a not in ("--since", SINCE)]  # resume from the checkpoint
    result = CliRunner().invoke(main, again)  # the rerun is an ordinary command: in-process
    assert result.exit_code == 0, result.output
    con_a, con_b = connect(reference), connect(Store(crashed))
    query = "SELECT insert_id, ts, event, phase, duration_s, vpc_state FROM events ORDER BY ALL"
    assert con_a.execute(query).fetchall() == con_b.execute(query).fetchall()
    assert len(stored_ids(Store(crashed))) == len(TELEMETRY_IDS)


def test_filter_always_carries_both_bounds() -> None:
    text = build_filter(
        since=datetime(2026, 1, 1, tzinfo=UTC),
        until=datetime(2026, 1, 2, tzinfo=UTC),
        service='my "svc"',
        extra="severity>=ERROR",
    )
    assert text.startswith('timestamp>="2026-01-01T00:00:00.000000Z" AND timestamp<"2026-01-02')
    assert 'resource.labels.service_name="my \\"svc\\""' in text
    assert text.endswith("AND (severity>=ERROR)")
    assert 'textPayload:"SMD "' in text and 'jsonPayload.message:"VPC connector"' in text


def test_pacer_spaces_requests() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    pacer = RequestPacer(60, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        pacer.wait_turn()
    assert slept == [1.0, 1.0] and pacer.requests == 3
