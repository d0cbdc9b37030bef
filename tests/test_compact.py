"""`analyze compact`: fewer segments, the same events."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from analyzer.cli import main
from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from tests.conftest import entry, write_ndjson


def test_compact_keeps_every_event(tmp_path: Path, store: Store, lake_rows) -> None:
    for n in range(12):  # twelve small collect-like runs over two days
        rows = [
            entry(
                {"event": "phase_started", "phase": 1 + i % 5},
                t=n * 7200 + i * 60,
                instance=f"i-{n}-{i}",
            )
            for i in range(20)
        ]
        import_paths([write_ndjson(tmp_path / f"run-{n}.jsonl", rows)], env="staging", store=store)
    columns = "* EXCLUDE (source_file, ingested_at)"
    before = lake_rows("events", columns)
    assert len(store.segments("events")) >= 12
    result = CliRunner().invoke(main, ["compact", "--env", "staging", "--store", str(store.root)])
    assert result.exit_code == 0, result.output
    days = {p.parent for p in store.segments("events")}
    assert len(store.segments("events")) == len(days) == 2
    assert lake_rows("events", columns) == before and len(before) == 240
    assert "240 events kept" in result.output
    again = CliRunner().invoke(main, ["compact", "--env", "staging", "--store", str(store.root)])
    assert "compacted 0 day(s)" in again.output
