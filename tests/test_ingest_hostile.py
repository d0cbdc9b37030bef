"""Import of hostile or unusual input: other JSON shapes, file names that look like globs,
far-off timestamps, odd files in folders, other applications' `event` keys, bad zones and envs."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from analyzer.errors import AnalyzerError
from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from tests.conftest import entry, write_ndjson


def _startup(n: int, *, t: float = 0.0) -> list[dict[str, Any]]:
    return [
        entry({"event": "startup_started"}, t=t + 10 * n, instance=f"i{n}"),
        entry({"event": "startup_completed"}, t=t + 10 * n + 5, instance=f"i{n}"),
    ]


def _quarantine(store: Store) -> list[tuple[str, str]]:
    files = [str(p) for p in store.segments("quarantine")]
    if not files:
        return []
    return duckdb.execute(
        "SELECT reason, entry FROM read_parquet(?) ORDER BY ALL", [files]
    ).fetchall()


def _accounted(result: Any) -> bool:
    counts = result.stored + result.duplicates + result.skipped + result.quarantined
    return bool(counts == result.read)


# --- other JSON shapes ------------------------------------------------------------------------

A, B, C = _startup(1), _startup(2), _startup(3)  # two entries each


def _pretty(value: object) -> str:
    return json.dumps(value, indent=2) + "\n"


def _lines(entries: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(e) + "\n" for e in entries)


SHAPES: dict[str, Callable[[], bytes]] = {
    # PowerShell's `> file` writes a byte-order mark before gcloud's array
    "array behind a byte-order mark": lambda: b"\xef\xbb\xbf" + _pretty(A + B).encode(),
    "array followed by lines": lambda: (_pretty(A) + _lines(B)).encode(),
    "two arrays one after another (cat a.json b.json)": lambda: (_pretty(A) + _pretty(B)).encode(),
    "two arrays on one line": lambda: (json.dumps(A) + json.dumps(B)).encode(),
    "array of arrays (jq -s)": lambda: _pretty([A, B]).encode(),
    "a line holding an array": lambda: (_lines(A) + json.dumps(B) + "\n").encode(),
    "saved entries.list response": lambda: json.dumps(
        {"entries": A + B, "nextPageToken": "abc"}
    ).encode(),
    "responses one after another": lambda: (_lines([{"entries": A}, {"entries": B}])).encode(),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_other_json_shapes_are_read_whole(
    tmp_path: Path, store: Store, lake_rows, shape: str
) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(SHAPES[shape]())
    result = import_paths([path], env="staging", store=store)
    assert (result.read, result.stored, result.skipped, result.quarantined) == (4, 4, 0, 0)
    assert lake_rows("startups", "outcome") == [("completed",), ("completed",)]
    assert lake_rows("events", "DISTINCT source_file") == [(str(path),)]


def test_other_shapes_gzipped_and_in_a_batch_with_good_files(
    tmp_path: Path, store: Store, lake_rows
) -> None:
    odd = tmp_path / "b-odd.json.gz"
    odd.write_bytes(gzip.compress(SHAPES["array of arrays (jq -s)"]()))
    good = write_ndjson(tmp_path / "a-good.jsonl", C)
    result = import_paths([good, odd], env="staging", store=store)
    assert (result.read, result.stored) == (6, 6)
    shapes = store.tmp_dir / "shapes"  # rewritten copies are removed
    assert not shapes.exists() or not list(shapes.iterdir())


def test_values_that_are_not_entries_are_quarantined_not_skipped(
    tmp_path: Path, store: Store
) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(_lines(A) + '42\n"text"\nnull\n{"hello": "world"}\n' + json.dumps(B) + "\n")
    result = import_paths([path], env="staging", store=store)
    assert (result.read, result.stored, result.skipped, result.quarantined) == (8, 4, 0, 4)
    assert result.quarantine_reasons == {"not a Cloud Logging entry": 4}
    kept = [json.loads(whole) for _, whole in _quarantine(store)]
    assert sorted(map(json.dumps, kept)) == sorted(['"text"', "42", '{"hello": "world"}', "null"])


def test_an_array_larger_than_the_readers_limit_is_read(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import analyzer.ingest.staging as staging

    monkeypatch.setattr(staging, "READ_MAX_BYTES", 4096)  # DuckDB cannot take the arrays whole
    many = [e for n in range(40) for e in _startup(n)]
    path = tmp_path / "two.json"
    path.write_text(_pretty(many[:40]) + _pretty(many[40:]))
    assert path.stat().st_size > 2 * 4096
    result = import_paths([path], env="staging", store=store)
    assert (result.read, result.stored) == (80, 80)


def test_a_file_that_is_not_json_is_still_named(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(b"\xef\xbb\xbf" + _pretty(A).encode()[:-20])
    with pytest.raises(AnalyzerError, match=r"broken\.json: cannot read as Cloud Logging JSON"):
        import_paths([path], env="staging", store=store)


# --- file names read literally ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "neighbour"),
    [
        ("[ab].jsonl", "a.jsonl"),
        ("export[1].json", "export1.json"),
        ("what?.json", "whatx.json"),
        ("star*.json", "starry.json"),
        ("d[1]/e.jsonl", "d1/e.jsonl"),
    ],
)
def test_file_names_are_read_literally(
    tmp_path: Path, store: Store, lake_rows, name: str, neighbour: str
) -> None:
    target = write_ndjson(tmp_path / name, A)
    write_ndjson(tmp_path / neighbour, B)  # what a glob of `name` would match instead
    result = import_paths([target], env="staging", store=store)
    assert (result.read, result.stored) == (2, 2)
    assert lake_rows("events", "insert_id, source_file") == sorted(
        (e["insertId"], str(target)) for e in A
    )


# --- timestamps -------------------------------------------------------------------------------


def _at(text: str, **fields: Any) -> dict[str, Any]:
    e = entry({"event": "startup_started"}, **fields)
    e["timestamp"] = text
    return e


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        ("2099-01-01T00:00:00Z", "timestamp implausibly late"),
        ("10000-01-01T00:00:00Z", "timestamp implausibly late"),
        ("0000-01-01T00:00:00Z", "timestamp implausibly early"),
        ("1970-01-01T00:00:00Z", "timestamp implausibly early"),
        ("2026-10-01T12:00:00+99:99", "timestamp with an invalid zone offset"),
        ("2026-10-01T12:00:00+24:00", "timestamp with an invalid zone offset"),
        ("2026-10-01T12:00:00-05:60", "timestamp with an invalid zone offset"),
    ],
)
def test_implausible_timestamps_are_quarantined(
    tmp_path: Path, store: Store, timestamp: str, reason: str
) -> None:
    path = write_ndjson(tmp_path / "e.jsonl", [*A, _at(timestamp)])
    result = import_paths([path], env="staging", store=store)
    assert (result.stored, result.quarantined) == (2, 1)
    assert [r for r in result.quarantine_reasons if r.startswith(reason)], result.quarantine_reasons


def test_a_day_after_it_was_received_is_implausible(tmp_path: Path, store: Store) -> None:
    soon = _at("2026-10-02T12:00:01Z", receiveTimestamp="2026-10-01T12:00:00Z")
    fine = _at("2026-10-02T11:59:59Z", receiveTimestamp="2026-10-01T12:00:00Z")
    result = import_paths(
        [write_ndjson(tmp_path / "e.jsonl", [soon, fine])], env="staging", store=store
    )
    assert (result.stored, result.quarantined) == (1, 1)


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-10-01T12:00:00z",
        "2026-10-01t12:00:00Z",
        "2026-10-01T14:00:00+02:00",
        "2026-10-01T06:30:00-0530",
    ],
)
def test_rfc3339_timestamps_are_accepted(
    tmp_path: Path, store: Store, lake_rows, timestamp: str
) -> None:
    result = import_paths(
        [write_ndjson(tmp_path / "e.jsonl", [_at(timestamp)])], env="staging", store=store
    )
    assert (result.stored, result.quarantined) == (1, 0)
    expected = datetime.fromisoformat(timestamp.upper().replace("Z", "+00:00"))
    assert lake_rows("events", "ts") == [(expected.astimezone(UTC),)]


def test_a_far_off_entry_does_not_move_the_window_of_an_older_lake(
    tmp_path: Path, store: Store
) -> None:
    """A lake written before such entries were quarantined: the window still ends at the last
    plausible event, and summary works (year 10000 does not fit a Python datetime)."""
    from analyzer.analysis.summary import summarize
    from analyzer.engine import local_engine

    import_paths([write_ndjson(tmp_path / "e.jsonl", A + B)], env="staging", store=store)
    segment = store.segments("events")[0]
    con = duckdb.connect()
    for n, when in enumerate(
        ["2099-01-01 00:00:00+00", "10000-01-01 00:00:00+00", "0000-01-01 00:00:00+00"]
    ):
        copy = segment.with_name(f"far-{n}.parquet")
        con.execute(
            f"COPY (SELECT * REPLACE (insert_id || '-far{n}' AS insert_id, "
            f"TIMESTAMPTZ '{when}' AS ts) FROM read_parquet('{segment}') LIMIT 1) "
            f"TO '{copy}' (FORMAT parquet)"
        )
    summary = summarize(engine=local_engine(store), env="staging")
    assert summary.window.start.year == 2026 and summary.window.end.year == 2026
    from analyzer.analysis.window import resolve_window

    start, end = resolve_window(local_engine(store), "staging", since="28d", until=None)
    assert (start.year, end.year) == (2026, 2026)


# --- files and folders ------------------------------------------------------------------------


def test_a_fifo_or_a_link_loop_named_directly_says_what_it_is(tmp_path: Path, store: Store) -> None:
    os.mkfifo(tmp_path / "pipe.json")
    (tmp_path / "loop.json").symlink_to(tmp_path / "loop.json")
    with pytest.raises(AnalyzerError, match=r"pipe\.json: a FIFO, not a regular file"):
        import_paths([tmp_path / "pipe.json"], env="staging", store=store)
    with pytest.raises(AnalyzerError, match=r"loop\.json: a loop of symbolic links"):
        import_paths([tmp_path / "loop.json"], env="staging", store=store)


def test_a_folder_names_what_it_does_not_read_and_takes_any_case(
    tmp_path: Path, store: Store
) -> None:
    folder = tmp_path / "exports"
    write_ndjson(folder / "UPPER.JSONL", A)
    write_ndjson(folder / "Mixed.Json", B)
    (folder / "gz.JSONL.GZ").write_bytes(gzip.compress(_lines(C).encode()))
    os.mkfifo(folder / "pipe.jsonl")
    (folder / "loop.json").symlink_to(folder / "loop.json")
    (folder / "gone.json").symlink_to(folder / "nothing-here")
    result = import_paths([folder], env="staging", store=store)
    assert (result.files, result.stored) == (3, 6)
    assert sorted(result.passed_over) == [
        f"{folder / 'gone.json'} (a symbolic link to nothing)",
        f"{folder / 'loop.json'} (a loop of symbolic links)",
        f"{folder / 'pipe.jsonl'} (a FIFO, not a regular file: name an export file or a folder)",
    ]
    assert any("not read:" in line and "pipe.jsonl" in line for line in result.detail_lines())


# --- what is telemetry ------------------------------------------------------------------------


def test_other_applications_events_are_skipped_by_reason(tmp_path: Path, store: Store) -> None:
    entries = [
        entry({"event": "user logged in", "level": "info", "logger": "auth"}),  # structlog
        entry({"message": "checkout", "event": "order_placed", "order": 7}),  # json_fields
        entry({"event": ""}),
        entry({"message": "hello"}),
        entry("GET /health 200"),
        # structlog's `event` is the message: a seed line there is telemetry
        entry({"event": "SMD Phase 3 completed successfully in 4.20s", "level": "info"}),
        entry({"event": "config_loaded", "outcome": "loaded", "config_sha256": "ab"}),
        entry({"event": "breaker_summary", "calls": 10, "failures": 1, "window_s": 60.0}),
    ]
    result = import_paths([write_ndjson(tmp_path / "e.jsonl", entries)], env="staging", store=store)
    assert (result.read, result.stored, result.skipped, result.quarantined) == (8, 3, 5, 0)
    assert result.skip_reasons == {
        "event not named in the telemetry contract": 3,
        "no telemetry event or text line": 2,
    }
    assert "  skipped 3: event not named in the telemetry contract" in result.detail_lines()
    assert _accounted(result)


def test_the_normaliser_knows_the_runtimes_event_names(
    tmp_path: Path, store: Store, lake_rows
) -> None:
    from analyzer.runtime import EVENTS

    entries = [
        entry(
            {
                "event": name,
                "phase": 3,
                "duration_s": 1.0,
                # config_loaded names its own outcomes; the other events read "error"
                "outcome": "loaded" if name == "config_loaded" else "error",
                "to_state": "OPEN",
                "from_state": "CLOSED",
                **{"window_s": 60.0, "calls": 2, "failures": 1},  # breaker_summary's
            }
        )
        for name in EVENTS
    ]
    result = import_paths([write_ndjson(tmp_path / "e.jsonl", entries)], env="staging", store=store)
    assert result.stored == len(EVENTS) and result.skipped == 0
    assert {row[0] for row in lake_rows("events", "event")} == set(EVENTS)


@pytest.mark.parametrize("bad", ["..", ".", "NULL", "null", "...", "a/b"])
def test_a_payload_env_that_would_not_read_back_is_refused(
    tmp_path: Path, store: Store, bad: str
) -> None:
    e = entry({"event": "startup_started", "env": bad})
    result = import_paths([write_ndjson(tmp_path / "e.jsonl", [e, *A])], env="staging", store=store)
    assert (result.stored, result.quarantined) == (2, 1)
    assert list(result.quarantine_reasons) == [f"invalid env: {bad}"]
    assert [p.name for p in store.events_dir.iterdir()] == ["env=staging"]


@pytest.mark.parametrize("bad", ["..", "NULL"])
def test_an_import_env_that_would_not_read_back_is_refused(
    tmp_path: Path, store: Store, bad: str
) -> None:
    with pytest.raises(AnalyzerError, match="invalid env"):
        import_paths([write_ndjson(tmp_path / "e.jsonl", A)], env=bad, store=store)


@pytest.mark.parametrize("ending", ["\n", "\r\n", ""])
def test_a_text_lines_error_survives_a_trailing_newline(
    tmp_path: Path, store: Store, lake_rows, ending: str
) -> None:
    line = "SMD Phase 3 database initialization failed: connection refused" + ending
    import_paths([write_ndjson(tmp_path / "e.jsonl", [entry(line)])], env="staging", store=store)
    assert lake_rows("events", "event, outcome, error") == [
        ("phase_failed", "error", "connection refused")
    ]


# --- breaker_summary (docs/telemetry.md v1.1) -----------------------------------------------------

SUMMARY = {
    "event": "breaker_summary",
    "window_s": 60.0,
    "calls": 12,
    "failures": 2,
    "slow_calls": 3,
    "slow_threshold_s": 8.5,
    "rejected": 4,
    "breaker_state": "CLOSED",
    "vpc_state": "pressure",
    "operation": "connection",
}


def test_a_breaker_summary_is_kept_with_its_fields_in_payload(
    tmp_path: Path, store: Store, lake_rows
) -> None:
    from analyzer.runtime import text_line

    line = text_line("breaker_summary", SUMMARY)
    entries = [
        entry(SUMMARY),
        entry(line),
        entry({"message": line}),
        entry({**SUMMARY, "rejected": 0, "slow_threshold_s": None}),
    ]
    result = import_paths([write_ndjson(tmp_path / "e.jsonl", entries)], env="staging", store=store)
    assert (result.stored, result.quarantined) == (4, 0)
    fields = ", ".join(f"payload->>'{name}'" for name in list(SUMMARY)[1:])
    rows = lake_rows("events", f"form, vpc_state, breaker_state, operation, {fields}")
    full = ("pressure", "CLOSED", "connection", "60.0", "12", "2", "3", "8.5", "4")
    quiet = ("pressure", "CLOSED", "connection", "60.0", "12", "2", "3", None, "0")
    named = ("CLOSED", "pressure", "connection")
    assert rows == [
        ("structured", *full, *named),
        ("structured", *quiet, *named),
        ("text", *full, *named),
        ("text", *full, *named),
    ]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"window_s": None}, "breaker_summary without window_s"),
        ({"window_s": "60"}, "window_s is not a number"),
        ({"window_s": -1.0}, "negative window_s"),
        ({"window_s": 40 * 86400}, "window_s is implausibly large (over 31 days)"),
        ({"calls": None}, "breaker_summary without calls"),
        ({"failures": None}, "breaker_summary without failures"),
        ({"calls": 12.5}, "calls is not an integer"),
        ({"calls": "12"}, "calls is not an integer"),
        ({"failures": True}, "failures is not an integer"),
        ({"slow_calls": [3]}, "slow_calls is not an integer"),
        ({"rejected": 1.0}, "rejected is not an integer"),
        ({"calls": 2**64}, "a breaker_summary count is out of range"),
        ({"rejected": -1}, "negative breaker_summary count"),
        ({"failures": 13}, "failures exceed calls"),
        ({"slow_calls": 13}, "slow_calls exceed calls"),
        (
            {"calls": 2**63 - 1},
            "calls implausible for one process (over 10,000 a second of window_s)",
        ),
        (
            {"window_s": 1e-300},
            "calls implausible for one process (over 10,000 a second of window_s)",
        ),
        ({"slow_threshold_s": 0}, "slow_threshold_s must be positive"),
        ({"slow_threshold_s": "fast"}, "slow_threshold_s is not a number"),
        ({"breaker_state": "AJAR"}, "breaker_state must be CLOSED, OPEN or HALF_OPEN"),
    ],
)
def test_a_malformed_breaker_summary_is_quarantined_with_its_reason(
    tmp_path: Path, store: Store, change: dict[str, Any], reason: str
) -> None:
    bad = {key: value for key, value in {**SUMMARY, **change}.items() if value is not None}
    result = import_paths(
        [write_ndjson(tmp_path / "e.jsonl", [entry(bad), *A])], env="staging", store=store
    )
    assert (result.stored, result.quarantined) == (2, 1)
    assert result.quarantine_reasons == {reason: 1}
    [(kept_reason, kept)] = _quarantine(store)
    assert kept_reason == reason and json.loads(kept)["jsonPayload"] == bad


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (
            "Circuit breaker summary: 3 calls, 5 failures, state OPEN (window_s=60.0)",
            "failures exceed calls",
        ),
        (
            "Circuit breaker summary: 3 calls, 1 failures, state OPEN (rejected=2)",
            "breaker_summary without window_s",
        ),
        (
            "Circuit breaker summary: 3 calls, 1 failures, state OPEN (window_s=inf)",
            "window_s is not finite",
        ),
        (
            "Circuit breaker summary: 3 calls, 1 failures, state OPEN (window_s=9 slow_calls=-1)",
            "negative breaker_summary count",
        ),
        (
            "Circuit breaker summary: 3 calls, 1 failures, state OPEN (window_s=9 rejected=x)",
            "rejected is not an integer",
        ),
        (
            "Circuit breaker summary: 3 calls, 1 failures, state OPEN (window_s=1e-300)",
            "calls implausible for one process (over 10,000 a second of window_s)",
        ),
    ],
)
def test_a_malformed_text_summary_is_quarantined(
    tmp_path: Path, store: Store, line: str, reason: str
) -> None:
    result = import_paths(
        [write_ndjson(tmp_path / "e.jsonl", [entry(line)])], env="staging", store=store
    )
    assert result.quarantine_reasons == {reason: 1}


def test_a_file_nested_a_thousand_levels_deep_is_named_and_the_folder_goes_on(
    tmp_path: Path, store: Store
) -> None:
    """Once a RecursionError (exit 70, naming no file) that stopped the folder's import."""
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "a-deep.json").write_text("[" * 1000 + "]" * 1000)
    (folder / "b-deeper.json.gz").write_bytes(gzip.compress(b"[" * 100_000 + b"]" * 100_000))
    inner = json.dumps(_startup(0)[0])
    (folder / "c-deep-entry.json").write_text("[" * 1000 + inner + "]" * 1000)
    write_ndjson(folder / "d-good.jsonl", _startup(1))
    result = import_paths([folder], env="staging", store=store)
    assert result.stored == len(_startup(1))
    assert [line.split(" (")[0] for line in result.passed_over] == [
        str(folder / name) for name in ("a-deep.json", "b-deeper.json.gz", "c-deep-entry.json")
    ]
    assert all("nested more than 64 levels deep" in line for line in result.passed_over)
    # Nesting an export has (`jq -s` of arrays, saved responses) still reads.
    (tmp_path / "shallow.json").write_text("[[[" + json.dumps(_startup(2)) + "]]]")
    assert import_paths([tmp_path / "shallow.json"], env="staging", store=store).stored == len(
        _startup(2)
    )
