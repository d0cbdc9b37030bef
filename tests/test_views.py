"""The views of queries/ on a small hand-made lake whose answers can be checked by eye."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from analyzer.engine.local import connect
from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from tests.conftest import T0, entry, write_array, write_ndjson


def _lake(tmp_path: Path, store: Store) -> None:
    a = "inst-a"  # structured: phase 3 times out at 20 s under pressure, exit code 3
    b = "inst-b"  # text: phase 3 fails with an error 3.5 s after its start line
    c = "inst-c"  # structured, no VPC state of its own: the timeline says scaling
    d = "inst-d"  # before any VPC state change, never ends
    entries = [
        entry({"event": "startup_started"}, t=0, instance=a),
        entry({"event": "phase_started", "phase": 1}, t=1, instance=a),
        entry({"event": "phase_completed", "phase": 1, "duration_s": 1.0}, t=2, instance=a),
        entry(
            {"event": "phase_started", "phase": 3, "vpc_state": "pressure", "timeout_s": 20.0},
            t=2,
            instance=a,
        ),
        entry(
            {
                "event": "phase_failed",
                "phase": 3,
                "outcome": "timeout",
                "duration_s": 20.0,
                "timeout_s": 20.0,
            },
            t=22,
            instance=a,
        ),
        entry({"event": "startup_failed", "exit_code": 3}, t=22.1, instance=a),
        entry("SMD startup sequence beginning", t=100, instance=b),
        entry("SMD Phase 3: Database initialization starting", t=101, instance=b),
        entry(
            "SMD Phase 3 timeout calculation: base=75.0s, vpc_aware=75.0s, final=75.0s",
            t=101,
            instance=b,
        ),
        entry("SMD Phase 3 database initialization failed: boom", t=104.5, instance=b),
        entry("VPC connector state: critical, Circuit breaker: CLOSED", t=104.6, instance=b),
        entry("SMD startup failed: container exit code 3", t=104.7, instance=b),
        entry(
            {
                "event": "vpc_state_changed",
                "from_state": "healthy",
                "to_state": "scaling",
                "vpc_utilization": 0.65,
            },
            t=50,
            instance=None,
        ),
        entry({"event": "startup_started"}, t=200, instance=c),
        entry({"event": "phase_started", "phase": 3}, t=200, instance=c),
        entry({"event": "phase_completed", "phase": 3, "duration_s": 10.0}, t=210, instance=c),
        entry(
            {"event": "phase_completed", "phase": 3, "operation": "connection", "duration_s": 2.0},
            t=203,
            instance=c,
        ),
        entry({"event": "startup_completed"}, t=211, instance=c),
        entry({"event": "phase_started", "phase": 3}, t=-100, instance=d),
    ]
    write_array(tmp_path / "read.json", entries[:12])
    write_ndjson(tmp_path / "sink.jsonl", entries[12:] + entries[:3])  # overlaps the array
    import_paths([tmp_path / "read.json", tmp_path / "sink.jsonl"], env="staging", store=store)


@pytest.fixture
def con(tmp_path: Path, store: Store):
    _lake(tmp_path, store)
    connection = connect(store)
    yield connection
    connection.close()


def test_events_are_deduplicated(con) -> None:
    assert con.execute("SELECT count(*), count(DISTINCT insert_id) FROM events").fetchall() == [
        (19, 19)
    ]


def test_startups(con) -> None:
    rows = con.execute(
        "SELECT startup_id, epoch(started_at) - epoch(?::TIMESTAMPTZ), duration_s, outcome, "
        "exit_code, last_phase FROM startups ORDER BY startup_id",
        [T0],
    ).fetchall()
    assert [
        (r[0], round(r[1], 3), None if r[2] is None else round(r[2], 3), *r[3:]) for r in rows
    ] == [
        ("inst-a", 0.0, 22.1, "failed", 3, 3),
        ("inst-b", 100.0, 4.7, "failed", 3, 3),
        ("inst-c", 200.0, 11.0, "completed", None, 3),
        ("inst-d", -100.0, None, "incomplete", None, 3),
    ]


def test_phase_attempts(con) -> None:
    rows = con.execute(
        "SELECT startup_id, phase, operation, outcome, round(duration_s, 3), censored, timeout_s, "
        "vpc_state, vpc_state_source, vpc_utilization, error "
        "FROM phase_attempts ORDER BY startup_id, phase, operation"
    ).fetchall()
    assert rows == [
        (
            "inst-a",
            1,
            "initialization",
            "completed",
            1.0,
            False,
            None,
            "unknown",
            "none",
            None,
            None,
        ),
        (
            "inst-a",
            3,
            "initialization",
            "timeout",
            20.0,
            True,
            20.0,
            "pressure",
            "event",
            None,
            None,
        ),
        (
            "inst-b",
            3,
            "initialization",
            "error",
            3.5,
            True,
            75.0,
            "critical",
            "context",
            None,
            "boom",
        ),
        (
            "inst-c",
            3,
            "connection",
            "completed",
            2.0,
            False,
            None,
            "scaling",
            "timeline",
            0.65,
            None,
        ),
        (
            "inst-c",
            3,
            "initialization",
            "completed",
            10.0,
            False,
            None,
            "scaling",
            "timeline",
            0.65,
            None,
        ),
        (
            "inst-d",
            3,
            "initialization",
            "incomplete",
            None,
            True,
            None,
            "unknown",
            "none",
            None,
            None,
        ),
    ]


def test_attempt_without_start_line_starts_its_duration_before_its_end(con) -> None:
    (started,) = con.execute(
        "SELECT epoch(started_at) - epoch(?::TIMESTAMPTZ) FROM phase_attempts "
        "WHERE startup_id = 'inst-c' AND operation = 'connection'",
        [T0],
    ).fetchone()
    assert round(started, 3) == 201.0


def test_vpc_states(con) -> None:
    assert con.execute(
        "SELECT vpc_state, from_state, vpc_utilization, until FROM vpc_states"
    ).fetchall() == [("scaling", "healthy", 0.65, None)]


def test_views_answer_on_an_empty_store(store: Store) -> None:
    connection = connect(store)
    for view in ("events", "vpc_states", "startups", "phase_attempts"):
        assert connection.execute(f"SELECT count(*) FROM {view}").fetchall() == [(0,)]


def test_views_read_segments_of_different_columns(tmp_path: Path, store: Store) -> None:
    """A segment written before a column was added reads beside those that have it (the
    column NULL in its rows); segments alike in their columns read alike."""
    _lake(tmp_path, store)
    with connect(store) as alike:
        before = alike.execute("SELECT count(*), count(ingested_at) FROM lake_rows").fetchall()
        ids = alike.execute("SELECT insert_id FROM events ORDER BY insert_id").fetchall()
    (segment,) = store.segments("events")
    older, newer = tmp_path / "older.parquet", segment.with_name("seg_newer.parquet")
    rows = f"FROM read_parquet('{segment}') WHERE ts"
    duckdb.execute(f"COPY (SELECT * {rows} >= '{T0}') TO '{newer}'")
    duckdb.execute(f"COPY (SELECT * EXCLUDE (ingested_at) {rows} < '{T0}') TO '{older}'")
    (held,) = duckdb.execute(f"SELECT count(*) FROM '{older}'").fetchall()[0]
    os.replace(older, segment)
    with connect(store) as mixed:
        after = mixed.execute("SELECT count(*), count(ingested_at) FROM lake_rows").fetchall()
        assert mixed.execute("SELECT insert_id FROM events ORDER BY insert_id").fetchall() == ids
    assert 0 < held < before[0][0]
    assert after == [(before[0][0], before[0][1] - held)]


def test_timeline_state_in_force_at_each_start(tmp_path: Path, store: Store) -> None:
    """The timeline's state at an attempt's start is the env's latest change at or before it:
    within the hour, hours and days later, long after the last change, never another env's."""
    changes = {"staging": [(0.0, "healthy"), (1800.0, "pressure"), (3 * 86400 + 5, "critical")]}
    changes["prod"] = [(100.0, "scaling")]
    starts = {
        "staging": [-50.0, 0.0, 1799.5, 1800.0, 7200.0, 2 * 86400, 3 * 86400 + 5, 10 * 86400],
        "prod": [50.0, 100.0, 3600.0 * 30],
    }
    for env, times in starts.items():
        entries = [
            entry({"event": "vpc_state_changed", "to_state": state}, t=t, instance=None)
            for t, state in changes[env]
        ]
        for i, t in enumerate(times):
            instance = f"{env}-{i}"
            entries.append(entry({"event": "phase_started", "phase": 3}, t=t, instance=instance))
            entries.append(
                entry(
                    {"event": "phase_completed", "phase": 3, "duration_s": 1.0},
                    t=t + 1,
                    instance=instance,
                )
            )
        import_paths([write_ndjson(tmp_path / f"{env}.jsonl", entries)], env=env, store=store)
    con = connect(store)
    found = con.execute(
        "SELECT env, epoch(started_at) - epoch(?::TIMESTAMPTZ), vpc_state, vpc_state_source "
        "FROM phase_attempts ORDER BY env, started_at",
        [T0],
    ).fetchall()
    expected = []
    for env in sorted(starts):
        for t in starts[env]:
            before = [state for at, state in changes[env] if at <= t]
            state = before[-1] if before else "unknown"
            expected.append((env, t, state, "none" if state == "unknown" else "timeline"))
    assert [(e, round(t, 3), s, src) for e, t, s, src in found] == expected
    con.close()


def test_env_time_range_leaves_out_broken_clocks() -> None:
    """An event time more than a day after the entry was received, or imported, moves neither
    end of the env's range; exactly a day after still does."""
    from analyzer.lake.connection import new_connection
    from analyzer.lake.sql import load_sql
    from analyzer.timewindow import plausible_time_params

    con = new_connection()
    day, us = 86400.0, 1e-6
    rows = [  # event time, received (None: not known), imported: seconds after T0
        (0.0, 0.0, 0.0),
        (10.0 + day, 10.0, 20.0),  # exactly a day after it was received: in
        (30.0 + day + us, 30.0, 40.0),  # a microsecond more: out
        (50.0 + day + us, None, 50.0),  # nothing received: a day after the import bounds it
        (2 * day, 5 * day, day - us),  # received later than imported: the import bounds it
        (-20 * 365 * day, -20 * 365 * day, 0.0),  # before the earliest plausible time
    ]
    con.execute(
        "CREATE TABLE lake_rows "
        "(env VARCHAR, ts TIMESTAMPTZ, receive_ts TIMESTAMPTZ, ingested_at TIMESTAMPTZ)"
    )
    for ts, received, imported in rows:
        con.execute(
            "INSERT INTO lake_rows VALUES ('staging', "
            "?::TIMESTAMPTZ + to_microseconds(CAST(? * 1e6 AS BIGINT)), "
            "?::TIMESTAMPTZ + to_microseconds(CAST(? * 1e6 AS BIGINT)), "
            "?::TIMESTAMPTZ + to_microseconds(CAST(? * 1e6 AS BIGINT)))",
            [T0, ts, None if received is None else T0, received, T0, imported],
        )
    first, last = con.execute(
        "SELECT epoch(first_ts) - epoch($t0), epoch(last_ts) - epoch($t0) "
        "FROM (" + load_sql("env_time_range") + "\n)",
        {"env": "staging", "t0": T0, **plausible_time_params()},
    ).fetchone()
    assert (round(first, 6), round(last, 6)) == (0.0, 10.0 + day)
    con.close()
