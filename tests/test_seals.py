"""Sealed segments: while every segment's ids were checked against the whole lake by its
writer, `events` reads the segments without deduplicating; any other segment brings the
deduplication back, and `analyze compact` seals a lake it finds free of repeats."""

from __future__ import annotations

import shutil
from pathlib import Path

from analyzer.engine.local import connect
from analyzer.ingest import import_paths
from analyzer.lake.compact import compact
from analyzer.lake.store import Store
from tests.conftest import entry, read_view, write_ndjson
from tests.test_views import _lake


def _events_view(store: Store) -> str:
    con = connect(store)
    try:
        ((sql,),) = con.execute(
            "SELECT sql FROM duckdb_views() WHERE view_name = 'events'"
        ).fetchall()
    finally:
        con.close()
    return "deduplicating" if "row_number()" in sql else "plain"


def _import_days(tmp_path: Path, store: Store, days: int = 2) -> None:
    for n in range(days * 2):
        rows = [entry({"event": "phase_started", "phase": 1}, t=n * 43200 + i) for i in range(5)]
        import_paths([write_ndjson(tmp_path / f"run-{n}.jsonl", rows)], env="staging", store=store)


def test_imports_seal_their_segments(tmp_path: Path, store: Store) -> None:
    _import_days(tmp_path, store)
    assert store.all_sealed(store.segments("events"))
    assert _events_view(store) == "plain"
    assert len(read_view(store, "events")) == 20


def test_a_copied_segment_is_read_once(tmp_path: Path, store: Store) -> None:
    _import_days(tmp_path, store)
    segment = store.segments("events")[0]
    shutil.copy(segment, segment.with_name("copy-by-hand.parquet"))
    assert _events_view(store) == "deduplicating"
    assert len(read_view(store, "lake_rows")) == 25
    assert len(read_view(store, "events")) == 20
    result = compact(store=store, env="staging")  # the repeats are dropped, the lake sealed
    assert result.repeats_dropped == 5 and result.sealed_now and _events_view(store) == "plain"
    assert len(read_view(store, "lake_rows")) == len(read_view(store, "events")) == 20


def test_compact_seals_a_lake_without_repeats(tmp_path: Path, store: Store) -> None:
    _import_days(tmp_path, store)
    store.seals_path.unlink()  # as a lake written before seals were kept
    assert _events_view(store) == "deduplicating"
    result = compact(store=store, env="staging")
    assert result.sealed_now and _events_view(store) == "plain"
    assert store.seals_path.read_text().count("\n") == len(store.segments("events"))
    assert len(read_view(store, "events")) == 20


def test_every_view_answers_the_same_sealed_or_not(tmp_path: Path, store: Store) -> None:
    _lake(tmp_path, store)
    views = ("events", "vpc_states", "startups", "phase_attempts")
    assert _events_view(store) == "plain"
    sealed = {view: read_view(store, view) for view in views}
    store.seals_path.unlink()
    assert _events_view(store) == "deduplicating"
    assert {view: read_view(store, view) for view in views} == sealed
    assert all(sealed.values())


def test_a_torn_last_line_seals_nothing(tmp_path: Path, store: Store) -> None:
    _import_days(tmp_path, store, days=1)
    text = store.seals_path.read_text()
    store.seals_path.write_text(text[:-5])  # a crash part-way through the last line
    assert store.sealed() == set(text.splitlines()[:-1])
    assert _events_view(store) == "deduplicating"
    assert len(read_view(store, "events")) == 10
