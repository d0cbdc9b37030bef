"""Import: the seed's text lines, quarantine reasons, skipping, and idempotence by insertId."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from tests.conftest import entry, write_ndjson

# Every line of docs/telemetry.md §3, with the fields it must become.
TEXT_LINES = [
    ("SMD startup sequence beginning", {"event": "startup_started"}),
    (
        "SMD Phase 3: Database initialization starting",
        {
            "event": "phase_started",
            "phase": 3,
            "phase_name": "database",
            "operation": "initialization",
        },
    ),
    (
        "SMD Phase 3 timeout calculation: base=75.0s, vpc_aware=90.0s, final=90.0s",
        {"event": "timeout_calculated", "phase": 3, "timeout_s": 90.0},
    ),
    (
        "SMD Phase 3 completed successfully in 12.34s",
        {"event": "phase_completed", "phase": 3, "duration_s": 12.34},
    ),
    (
        "SMD Phase 3 database initialization timeout after 20.0s",
        {
            "event": "phase_failed",
            "phase": 3,
            "outcome": "timeout",
            "duration_s": 20.0,
            "timeout_s": 20.0,
        },
    ),
    (
        "SMD Phase 3 database initialization failed: connection refused",
        {"event": "phase_failed", "phase": 3, "outcome": "error", "error": "connection refused"},
    ),
    (
        "VPC connector state: pressure, Circuit breaker: OPEN",
        {"event": "phase_context", "vpc_state": "pressure", "breaker_state": "OPEN"},
    ),
    (
        "VPC connector capacity state changed: healthy -> pressure (utilization=0.74)",
        {
            "event": "vpc_state_changed",
            "from_state": "healthy",
            "to_state": "pressure",
            "vpc_state": "pressure",
            "vpc_utilization": 0.74,
        },
    ),
    (
        "Database circuit breaker: Opening circuit due to repeated failures",
        {"event": "breaker_transition", "to_state": "OPEN"},
    ),
    (
        "Database circuit breaker: Attempting half-open state",
        {"event": "breaker_transition", "to_state": "HALF_OPEN"},
    ),
    (
        "Database circuit breaker: Success recorded, closing circuit",
        {"event": "breaker_transition", "to_state": "CLOSED"},
    ),
    (
        "Database fallback applied - service operating in degraded mode",
        {"event": "degradation_applied"},
    ),
    ("SMD startup sequence completed", {"event": "startup_completed"}),
    ("SMD startup failed: container exit code 3", {"event": "startup_failed", "exit_code": 3}),
]


def _only_row(store: Store, columns: list[str]) -> dict[str, object]:
    from analyzer.engine.local import connect

    con = connect(store)
    rows = con.execute(f"SELECT {', '.join(columns)} FROM events").fetchall()
    con.close()
    assert len(rows) == 1
    return dict(zip(columns, rows[0], strict=True))


@pytest.mark.parametrize(("line", "expected"), TEXT_LINES, ids=[e["event"] for _, e in TEXT_LINES])
@pytest.mark.parametrize("carrier", ["textPayload", "jsonPayload.message", "logger prefix"])
def test_text_lines(
    tmp_path: Path, store: Store, line: str, expected: dict[str, object], carrier: str
) -> None:
    if carrier == "textPayload":
        e = entry(line)
    elif carrier == "jsonPayload.message":
        e = entry({"message": line})
    else:
        e = entry(f"INFO:netra_backend.app.smd:{line}")
    result = import_paths([write_ndjson(tmp_path / "t.jsonl", [e])], env="staging", store=store)
    assert (result.stored, result.skipped, result.quarantined) == (1, 0, 0)
    row = _only_row(store, [*expected, "form", "startup_id"])
    assert row == {**expected, "form": "text", "startup_id": "inst-1"}


def test_not_telemetry_is_skipped_and_counted(tmp_path: Path, store: Store) -> None:
    entries = [
        entry("GET /health HTTP/1.1 200 OK"),
        entry({"message": "hello", "level": "info"}),
        entry(None, httpRequest={"status": 200}),
        entry({"event": "startup_started"}),
    ]
    result = import_paths([write_ndjson(tmp_path / "e.jsonl", entries)], env="staging", store=store)
    assert (result.read, result.stored, result.skipped, result.quarantined) == (4, 1, 3, 0)


QUARANTINE_CASES = [
    ("missing insertId", entry({"event": "startup_started"}, insert_id="")),
    ("missing timestamp", {**entry({"event": "startup_started"}), "timestamp": None}),
    ("unparseable timestamp", {**entry({"event": "startup_started"}), "timestamp": "yesterday"}),
    (
        "timestamp without time zone",
        {**entry({"event": "startup_started"}), "timestamp": "2026-10-01T12:00:00"},
    ),
    ("phase is not an integer", entry({"event": "phase_started", "phase": "three"})),
    ("phase must be at least 1", entry({"event": "phase_started", "phase": 0})),
    ("phase_started without phase", entry({"event": "phase_started"})),
    (
        "duration_s is not a number",
        entry({"event": "phase_completed", "phase": 3, "duration_s": "12s"}),
    ),
    (
        "duration_s is not finite",
        entry({"event": "phase_completed", "phase": 3, "duration_s": math.nan}),
    ),
    ("negative duration_s", entry({"event": "phase_completed", "phase": 3, "duration_s": -1.0})),
    (
        "duration_s is implausibly large",
        entry({"event": "phase_completed", "phase": 3, "duration_s": 1e12}),
    ),
    ("phase_completed without duration_s", entry({"event": "phase_completed", "phase": 3})),
    ("timeout_s must be positive", entry({"event": "phase_started", "phase": 3, "timeout_s": 0})),
    (
        "phase_failed outcome must be timeout or error",
        entry({"event": "phase_failed", "phase": 3, "duration_s": 5.0, "outcome": "oops"}),
    ),
    (
        "vpc_utilization outside 0..1",
        entry({"event": "vpc_state_changed", "to_state": "x", "vpc_utilization": 7}),
    ),
    ("exit_code is not an integer", entry({"event": "startup_failed", "exit_code": "three"})),
    # Numbers written as strings, and booleans, which a cast would read as numbers.
    ("phase is not an integer", entry({"event": "phase_started", "phase": "3"})),
    ("phase is not an integer", entry({"event": "phase_started", "phase": True})),
    (
        "duration_s is not a number",
        entry({"event": "phase_completed", "phase": 3, "duration_s": "12.5"}),
    ),
    ("timeout_s is not a number", entry({"event": "phase_started", "phase": 3, "timeout_s": True})),
    (
        "vpc_utilization is not a number",
        entry({"event": "vpc_state_changed", "to_state": "x", "vpc_utilization": "0.5"}),
    ),
    ("exit_code is not an integer", entry({"event": "startup_failed", "exit_code": "3"})),
    ("invalid env", entry({"event": "startup_started", "env": "../../etc"})),
]


@pytest.mark.parametrize(("reason", "bad"), QUARANTINE_CASES, ids=[r for r, _ in QUARANTINE_CASES])
def test_malformed_telemetry_is_quarantined_whole(
    tmp_path: Path, store: Store, reason: str, bad: dict
) -> None:
    good = entry({"event": "startup_started"})
    path = write_ndjson(tmp_path / "e.jsonl", [good, bad])
    result = import_paths([path], env="staging", store=store)
    assert (result.read, result.stored, result.quarantined) == (2, 1, 1)
    assert [r for r in result.quarantine_reasons if r.startswith(reason)], result.quarantine_reasons

    import duckdb

    rows = duckdb.execute(
        "SELECT env, reason, entry, source_file FROM read_parquet(?)",
        [[str(p) for p in store.segments("quarantine")]],
    ).fetchall()
    assert len(rows) == 1
    env, stored_reason, whole, source = rows[0]
    assert env == "staging" and stored_reason.startswith(reason) and source == str(path)
    import json

    assert json.loads(whole)["insertId"] == bad.get("insertId")
    # Importing again quarantines nothing new.
    import_paths([path], env="staging", store=store)
    assert (
        len(
            duckdb.execute(
                "SELECT * FROM read_parquet(?)", [[str(p) for p in store.segments("quarantine")]]
            ).fetchall()
        )
        == 1
    )


def test_reimport_and_overlapping_exports_add_nothing(
    tmp_path: Path, store: Store, lake_rows
) -> None:
    entries = [entry({"event": "phase_started", "phase": n}, t=n) for n in range(1, 7)]
    first = write_ndjson(tmp_path / "first.jsonl", entries[:4])
    overlap = write_ndjson(tmp_path / "overlap.jsonl.gz", entries[2:])
    assert import_paths([first], env="staging", store=store).stored == 4
    again = import_paths([first], env="staging", store=store)
    assert (again.stored, again.duplicates) == (0, 4)
    more = import_paths([overlap], env="staging", store=store)
    assert (more.stored, more.duplicates) == (2, 2)
    assert len(lake_rows("lake_rows", "insert_id")) == 6


def test_duplicates_inside_one_export_are_stored_once(
    tmp_path: Path, store: Store, lake_rows
) -> None:
    e = entry({"event": "startup_started"})
    result = import_paths(
        [write_ndjson(tmp_path / "e.jsonl", [e, e, e])], env="staging", store=store
    )
    assert (result.read, result.stored, result.duplicates) == (3, 1, 2)
    assert len(lake_rows("lake_rows", "insert_id")) == 1


def test_same_insert_id_with_other_content_is_quarantined_not_dropped(
    tmp_path: Path, store: Store, lake_rows
) -> None:
    first = entry({"event": "phase_completed", "phase": 3, "duration_s": 5.0}, insert_id="x-1")
    other = entry({"event": "phase_completed", "phase": 3, "duration_s": 50.0}, insert_id="x-1")
    import_paths([write_ndjson(tmp_path / "a.jsonl", [first])], env="staging", store=store)
    again = import_paths(
        [write_ndjson(tmp_path / "b.jsonl", [first, other])], env="staging", store=store
    )
    assert (again.stored, again.duplicates, again.quarantined) == (0, 1, 1)
    assert "insertId already stored with different content" in again.quarantine_reasons
    assert lake_rows("events", "duration_s") == [(5.0,)]
    # within one batch too: one version is stored, the other quarantined
    fresh = Store(tmp_path / "fresh")
    once = import_paths(
        [write_ndjson(tmp_path / "c.jsonl", [first, other, first])], env="staging", store=fresh
    )
    assert (once.stored, once.duplicates, once.quarantined) == (1, 1, 1)
