"""Import: each input shape and both contract forms become lake rows (docs/telemetry.md §1-§4)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pytest

from analyzer.errors import AnalyzerError
from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from tests.conftest import entry, write_array, write_ndjson

STARTUP = [
    entry({"event": "startup_started"}, t=0),
    entry({"event": "phase_started", "phase": 3, "vpc_state": "pressure", "timeout_s": 20.0}, t=1),
    entry({"event": "phase_completed", "phase": 3, "duration_s": 12.5}, t=13.5),
    entry({"event": "startup_completed"}, t=14),
]


def test_gcloud_array(tmp_path: Path, store: Store, lake_rows) -> None:
    result = import_paths(
        [write_array(tmp_path / "read.json", STARTUP)], env="staging", store=store
    )
    assert (result.read, result.stored, result.duplicates) == (4, 4, 0)
    assert lake_rows("events", "event, form") == sorted(
        [
            ("startup_started", "structured"),
            ("phase_started", "structured"),
            ("phase_completed", "structured"),
            ("startup_completed", "structured"),
        ]
    )


@pytest.mark.parametrize(
    "name", ["export.jsonl", "export.ndjson", "export.json", "export.jsonl.gz"]
)
def test_newline_delimited_exports(tmp_path: Path, store: Store, name: str) -> None:
    path = write_ndjson(tmp_path / name, STARTUP)
    assert import_paths([path], env="staging", store=store).stored == 4


def test_sink_folder_is_searched_recursively(tmp_path: Path, store: Store, lake_rows) -> None:
    root = tmp_path / "sink"
    write_ndjson(
        root / "run.googleapis.com/stdout/2026/10/01/12:00:00_12:59:59_S0.json", STARTUP[:2]
    )
    write_ndjson(
        root / "run.googleapis.com/stdout/2026/10/01/13:00:00_13:59:59_S0.json.gz", STARTUP[2:]
    )
    (root / "notes.txt").write_text("not a log file")
    result = import_paths([root], env="staging", store=store)
    assert (result.files, result.stored) == (2, 4)
    assert lake_rows("startups", "outcome") == [("completed",)]


def test_lake_layout_and_columns_follow_the_contract(tmp_path: Path, store: Store) -> None:
    import_paths([write_ndjson(tmp_path / "e.jsonl", STARTUP)], env="staging", store=store)
    segments = store.segments("events")
    assert segments and all(
        p.relative_to(store.events_dir).parts[:2] == ("env=staging", "date=2026-10-01")
        for p in segments
    )
    # Readable by plain DuckDB, without the analyzer.
    columns = {
        row[0]: row[1]
        for row in duckdb.execute(
            "DESCRIBE SELECT * FROM read_parquet(?)", [str(segments[0])]
        ).fetchall()
    }
    expected = {
        "insert_id": "VARCHAR",
        "ts": "TIMESTAMP WITH TIME ZONE",
        "env": "VARCHAR",
        "service": "VARCHAR",
        "revision": "VARCHAR",
        "instance_id": "VARCHAR",
        "startup_id": "VARCHAR",
        "event": "VARCHAR",
        "phase": "INTEGER",
        "phase_name": "VARCHAR",
        "operation": "VARCHAR",
        "outcome": "VARCHAR",
        "vpc_state": "VARCHAR",
        "breaker_state": "VARCHAR",
        "from_state": "VARCHAR",
        "to_state": "VARCHAR",
        "error_type": "VARCHAR",
        "error": "VARCHAR",
        "severity": "VARCHAR",
        "message": "VARCHAR",
        "duration_s": "DOUBLE",
        "timeout_s": "DOUBLE",
        "vpc_utilization": "DOUBLE",
        "exit_code": "INTEGER",
        "form": "VARCHAR",
        "payload": "VARCHAR",
    }
    assert {k: columns[k] for k in expected} == expected


def test_microseconds_and_zones_are_kept(tmp_path: Path, store: Store, lake_rows) -> None:
    e = entry({"event": "startup_started"})
    e["timestamp"] = "2026-10-01T14:00:00.123456789+02:00"
    import_paths([write_ndjson(tmp_path / "e.jsonl", [e])], env="staging", store=store)
    (ts,) = lake_rows("events", "strftime(ts, '%Y-%m-%dT%H:%M:%S.%f')")[0]
    assert ts == "2026-10-01T12:00:00.123456"


def test_env_selects_entries_of_another_env_are_skipped(
    tmp_path: Path, store: Store, lake_rows
) -> None:
    rows = [
        entry({"event": "startup_started", "env": "production"}),
        entry({"event": "startup_started"}),
    ]
    result = import_paths([write_ndjson(tmp_path / "e.jsonl", rows)], env="staging", store=store)
    assert lake_rows("events", "env") == [("staging",)]
    assert (result.stored, result.skipped, result.other_envs) == (1, 1, {"production": 1})


def test_original_payload_is_kept(tmp_path: Path, store: Store, lake_rows) -> None:
    payload = {"event": "phase_started", "phase": 3, "custom_field": {"nested": [1, 2]}}
    import_paths([write_ndjson(tmp_path / "e.jsonl", [entry(payload)])], env="staging", store=store)
    (kept,) = lake_rows("events", "payload")[0]
    assert json.loads(kept) == payload


def test_unreadable_file_is_named_and_nothing_half_written(
    tmp_path: Path, store: Store, lake_rows
) -> None:
    good = write_ndjson(tmp_path / "a-good.jsonl", STARTUP)
    bad = tmp_path / "b-bad.jsonl"
    bad.write_text('{"insertId": "x", "timestamp": ')
    with pytest.raises(AnalyzerError, match=r"b-bad\.jsonl"):
        import_paths([good, bad], env="staging", store=store)
    # The good file of the batch was imported whole; the bad one added nothing.
    assert len(lake_rows("events", "insert_id")) == 4


def test_truncated_gzip_is_named(tmp_path: Path, store: Store) -> None:
    data = gzip.compress(("".join(json.dumps(e) + "\n" for e in STARTUP)).encode())
    bad = tmp_path / "cut.jsonl.gz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(AnalyzerError, match=r"cut\.jsonl\.gz"):
        import_paths([bad], env="staging", store=store)


def test_missing_path_and_empty_folder(tmp_path: Path, store: Store) -> None:
    with pytest.raises(AnalyzerError, match="no such file or folder"):
        import_paths([tmp_path / "nope.json"], env="staging", store=store)
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnalyzerError, match="no log files"):
        import_paths([tmp_path / "empty"], env="staging", store=store)


@pytest.mark.parametrize("env", ["../etc", "staging\n", "", "x" * 65])
def test_env_must_be_a_safe_name(tmp_path: Path, store: Store, env: str) -> None:
    with pytest.raises(AnalyzerError, match="invalid env"):
        import_paths([write_ndjson(tmp_path / "e.jsonl", STARTUP)], env=env, store=store)


def test_empty_file_imports_nothing(tmp_path: Path, store: Store) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = import_paths([empty], env="staging", store=store)
    assert (result.read, result.stored) == (0, 0)
