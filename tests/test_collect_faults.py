"""`collect` against a misbehaving Logging API: pages out of order, paging loops, a server that
drips, a connection cut mid-body, non-JSON answers, refused credentials, malformed entries."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer.cli import main
from analyzer.engine.local import connect
from analyzer.errors import AnalyzerError
from analyzer.ingest import import_paths
from analyzer.ingest.cloud_logging import RequestLimits
from analyzer.ingest.collect import checkpoint_path, collect, read_checkpoint
from analyzer.lake.store import Store
from tests.conftest import as_new_server, read_view, write_ndjson
from tests.fake_cloud_logging import FakeCloudLogging, running
from tests.test_collect import cli_args, request, simulated_day, stored_ids, telemetry_ids

ENTRIES = simulated_day({"structured": 5}, startups_per_hour=8)
TELEMETRY_IDS = telemetry_ids(ENTRIES)


@pytest.fixture(scope="module")
def _server() -> Iterator[FakeCloudLogging]:
    with running(ENTRIES) as fake:
        yield fake


@pytest.fixture
def cloud(_server: FakeCloudLogging) -> FakeCloudLogging:
    """The module's server, its state as a new server's (no faults, no requests, ENTRIES)."""
    return as_new_server(_server, ENTRIES)


def test_shuffled_pages_and_a_503_lose_nothing(cloud, store: Store) -> None:
    cloud.shuffle_pages = True
    cloud.faults = {2: 503}
    result = collect(request(cloud), store=store)
    assert len(TELEMETRY_IDS) > 2000
    assert sorted(stored_ids(store)) == sorted(TELEMETRY_IDS)
    assert result.retries == 1


def test_the_checkpoint_moves_only_over_stored_pages(cloud, store: Store) -> None:
    """Retries run out part-way through shuffled pages: the rerun resumes at the page token of
    the first page not stored, and ends with every entry stored once."""
    cloud.shuffle_pages = True
    cloud.faults = {n: 503 for n in range(3, 8)}
    with pytest.raises(AnalyzerError, match=r"saved .* run the same command again"):
        collect(request(cloud), store=store)
    partial = stored_ids(store)
    assert 0 < len(partial) < len(TELEMETRY_IDS)
    checkpoint = read_checkpoint(checkpoint_path(store, request(cloud)))
    assert checkpoint.until is None and checkpoint.partial and checkpoint.partial.page_token
    cloud.faults = {}
    before = len(cloud.requests)
    collect(request(cloud, since=None), store=store)
    assert sorted(stored_ids(store)) == sorted(TELEMETRY_IDS)
    assert cloud.requests[before]["pageToken"] == checkpoint.partial.page_token
    done = read_checkpoint(checkpoint_path(store, request(cloud)))
    assert done.partial is None and done.until is not None


def test_malformed_entries_are_quarantined_as_import_does(
    cloud, tmp_path: Path, store: Store
) -> None:
    good = [e for e in ENTRIES if e.get("jsonPayload", {}).get("event")][:3]
    offset = {**good[0], "insertId": "offset-ts"}
    offset["timestamp"] = offset["timestamp"].replace("Z", "+00:00")
    as_text = {**good[1], "insertId": "resource-as-text", "resource": "cloud_run_revision"}
    after = {**good[2], "insertId": "after-the-bad-ones", "timestamp": "2026-10-26T23:59:00Z"}
    cloud.entries = [offset, as_text, after]
    cloud.unfiltered_ids = {"resource-as-text"}
    result = collect(request(cloud), store=store)

    reference = Store(tmp_path / "reference")
    file = write_ndjson(tmp_path / "same.jsonl", [offset, as_text, after])
    imported = import_paths([file], env="staging", store=reference)
    assert result.fetched == imported.read == 3
    for count in ("stored", "quarantined", "skipped", "duplicates"):
        assert getattr(result.stored, count) == getattr(imported, count), count
    assert result.stored.quarantine_reasons == imported.quarantine_reasons
    columns = "insert_id, ts, event, phase, duration_s"
    assert read_view(store, "events", columns) == read_view(reference, "events", columns)
    assert "after-the-bad-ones" in stored_ids(store)
    assert _quarantine(store) == _quarantine(reference)


def _quarantine(store: Store) -> list[tuple]:
    con = connect(store)
    try:
        files = [str(p) for p in store.segments("quarantine")]
        query = "SELECT entry_hash, reason FROM read_parquet(?) ORDER BY ALL"
        return con.execute(query, [files]).fetchall() if files else []
    finally:
        con.close()


def test_a_looping_page_token_stops_at_once(cloud, store: Store) -> None:
    cloud.loop_tokens = True
    with pytest.raises(AnalyzerError, match=r"page token .* a second time .* saved 1,000"):
        collect(request(cloud), store=store)
    assert len(cloud.requests) == 2
    assert len(stored_ids(store)) == 1000


def test_a_dripping_server_is_cut_off_by_the_request_deadline(cloud, store: Store) -> None:
    cloud.faults = {2: "drip"}
    cloud.drip_s = 1.0  # never long enough for the read timeout
    limits = RequestLimits(connect_s=1.0, read_s=5.0, request_s=0.5)
    started = time.monotonic()
    result = collect(request(cloud, limits=limits), store=store)
    assert time.monotonic() - started < 10
    assert result.retries == 1 and sorted(stored_ids(store)) == sorted(TELEMETRY_IDS)


def test_a_dripping_server_that_never_stops_ends_the_run_and_frees_the_lock(
    cloud, store: Store
) -> None:
    cloud.faults = {n: "drip" for n in range(2, 10)}
    cloud.drip_s = 1.0
    limits = RequestLimits(connect_s=1.0, read_s=5.0, request_s=0.5)
    started = time.monotonic()
    with pytest.raises(AnalyzerError, match=r"gave up after 1 retries .*within 0.5 s.*saved 1,000"):
        collect(request(cloud, limits=limits, max_retries=1), store=store)
    assert time.monotonic() - started < 10
    with store.writer_lock():  # released
        pass


def test_the_run_time_limit_bounds_a_dripping_server(cloud, store: Store) -> None:
    """Bound: a run ends within --max-run-s plus the storing of the pages it holds: no request
    is sent past the limit, none is read past it (each request's deadline and timeouts are cut
    to the time left), and no retry waits past it. Measured: a 1.5 s limit ended at 1.9 s, 3 s
    at 3.7 s (storing the page it held); it was the request's own 120 s, then its retries."""
    cloud.faults = {n: "drip" for n in range(2, 100)}
    cloud.drip_s = 0.01  # never trips the read timeout; a page would take hours
    limit_s = 3.0  # time for the first page on a busy machine (the client's import counts)
    started = time.monotonic()
    with pytest.raises(AnalyzerError, match=r"time limit of 3 s .*saved 1,000 new entries"):
        collect(request(cloud, max_run_s=limit_s, max_retries=50), store=store)
    assert time.monotonic() - started < limit_s + 2.0
    with store.writer_lock():  # released
        pass
    cloud.faults = {}
    collect(request(cloud, since=None), store=store)
    assert sorted(stored_ids(store)) == sorted(TELEMETRY_IDS)


def test_no_retry_waits_past_the_run_time_limit(cloud, store: Store) -> None:
    cloud.faults = {2: 503}
    started = time.monotonic()
    with pytest.raises(
        AnalyzerError, match=r"time limit of 5 s .*, before a retry after 503 .*saved"
    ):
        collect(request(cloud, max_run_s=5.0, backoff_base_s=60.0), store=store)
    assert time.monotonic() - started < 5.0


def test_a_run_time_limit_of_zero_sends_nothing(cloud, store: Store) -> None:
    with pytest.raises(AnalyzerError, match=r"time limit of 0 s .*nothing was stored"):
        collect(request(cloud, max_run_s=0.0), store=store)
    assert cloud.requests == []


def test_an_answer_that_inflates_past_the_limit_stops_the_run(
    cloud, store: Store, tmp_path: Path
) -> None:
    """A 3 MB gzip answer that inflates to 3 GiB: read to --max-answer-size (100 MiB by
    default), then one line saying what was saved, exit 1; the rerun resumes there."""
    cloud.faults = {2: "gzip"}
    cloud.inflated_bytes = 3 * 2**30
    result = CliRunner().invoke(main, cli_args(cloud, store.root))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert "answer too large" in line and "104,857,600 bytes (--max-answer-size)" in line
    assert "saved 1,000 new entries" in line and "run the same command again" in line
    assert len(stored_ids(store)) == 1000

    cloud.faults = {3: "gzip"}
    cloud.inflated_bytes = 2 * 2**20  # a gzip answer under the limit is read as any other
    again = CliRunner().invoke(main, cli_args(cloud, store.root, "--max-answer-size", "4MiB"))
    assert again.exit_code == 0, again.output
    assert sorted(stored_ids(store)) == sorted(TELEMETRY_IDS)


def test_a_max_answer_size_of_zero_is_a_usage_error(cloud, store: Store) -> None:
    result = CliRunner().invoke(main, cli_args(cloud, store.root, "--max-answer-size", "0"))
    assert result.exit_code == 2 and "--max-answer-size" in result.output


def test_a_connection_cut_mid_body_is_retried(cloud, store: Store) -> None:
    cloud.faults = {2: "cut"}
    result = collect(request(cloud), store=store)
    assert result.retries == 1 and sorted(stored_ids(store)) == sorted(TELEMETRY_IDS)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("html", "answered 200 with text/html, not JSON ('<html><body><h1>Sign in"),
        (401, "the credentials were refused"),
    ],
)
def test_non_json_success_and_401_are_one_clear_line(
    cloud, tmp_path: Path, fault: int | str, message: str
) -> None:
    cloud.faults = {1: fault}
    lake = tmp_path / "lake"
    result = CliRunner().invoke(main, cli_args(cloud, lake))
    assert result.exit_code == 1, result.output
    assert message in result.output and "nothing was stored" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Anonymous credentials" not in result.output and "JSONDecodeError" not in result.output
    assert len(cloud.requests) == 1  # neither is retried
    assert not list(lake.rglob("*.parquet"))


def test_the_checkpoint_file_is_plain_json(cloud, store: Store) -> None:
    collect(request(cloud), store=store)
    document = json.loads(checkpoint_path(store, request(cloud)).read_text())
    assert document["until"] == "2026-10-27T00:00:00.000000Z" and "partial" not in document


def test_a_saved_page_token_the_api_refuses_restarts_the_window(cloud, store: Store) -> None:
    cloud.faults = {n: 503 for n in range(2, 7)}
    with pytest.raises(AnalyzerError, match="gave up"):
        collect(request(cloud), store=store)
    path = checkpoint_path(store, request(cloud))
    document = json.loads(path.read_text())
    document["partial"]["page_token"] = "expired"
    path.write_text(json.dumps(document))
    cloud.faults = {}
    before = len(cloud.requests)
    collect(request(cloud, since=None), store=store)
    assert cloud.requests[before]["pageToken"] == "expired"
    assert "pageToken" not in cloud.requests[before + 1]
    assert sorted(stored_ids(store)) == sorted(TELEMETRY_IDS)


def test_a_damaged_segment_in_the_lake_is_named(cloud, tmp_path: Path) -> None:
    lake = Store(tmp_path / "lake")
    collect(request(cloud, until="2026-10-26T12:00:00Z"), store=lake)
    victim = lake.segments("events")[0]
    victim.write_bytes(b"")
    result = CliRunner().invoke(main, cli_args(cloud, lake.root))
    assert result.exit_code == 1, result.output
    assert f"segment {lake.segment_key(victim)} of store" in result.output
    assert "analyze verify" in result.output and "internal error" not in result.output
