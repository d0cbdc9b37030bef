"""The two readers of an import batch agree: the column reader is only a faster way to the rows
the entry-by-entry reader gives, and the importer takes it whenever it can."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.ingest.staging import (
    COLUMN_READER,
    ENTRY_READER,
    batch_connection,
    normalise_with,
    stage,
)
from tests.conftest import entry, write_ndjson
from tests.test_reliability import _scalar, log_entries

# Top-level fields of types Cloud Logging never writes, which both readers take as text.
_odd_fields = st.fixed_dictionaries(
    {},
    optional={
        "insertId": st.integers(0, 10**6) | st.booleans(),
        "severity": _scalar,
        "textPayload": _scalar | st.dictionaries(st.sampled_from("ab"), _scalar, max_size=2),
        "labels": st.fixed_dictionaries({"instanceId": _scalar}),
        "resource": st.fixed_dictionaries(
            {"labels": st.fixed_dictionaries({"service_name": _scalar})}
        ),
    },
)


def _staged(con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return con.execute(
        "SELECT * EXCLUDE (entry_json, ingested_at) FROM staged ORDER BY ALL"
    ).fetchall()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    entries=st.lists(
        st.tuples(log_entries(), _odd_fields).map(lambda pair: {**pair[0], **pair[1]}),
        min_size=1,
        max_size=25,
    )
)
def test_column_reader_gives_the_entry_readers_rows(
    tmp_path_factory: pytest.TempPathFactory, entries: list[dict]
) -> None:
    folder = tmp_path_factory.mktemp("readers")
    path = str(write_ndjson(folder / "e.jsonl", entries))
    con = batch_connection({path: path}, spill_dir=folder / "spill")
    normalise_with(con, ENTRY_READER, env="staging")
    expected = _staged(con)
    normalise_with(con, COLUMN_READER, env="staging")
    assert _staged(con) == expected
    assert len(expected) == len(entries)


def _reader_used(con: duckdb.DuckDBPyConnection) -> str:
    (sql,) = con.execute(
        "SELECT sql FROM duckdb_views() WHERE view_name = 'entry_fields'"
    ).fetchall()[0]
    return COLUMN_READER if "read_json(" in sql else ENTRY_READER


@pytest.mark.parametrize(
    ("extra", "reader"),
    [
        ([], COLUMN_READER),
        ([entry({"event": "phase_completed", "phase": 3, "duration_s": -1.0})], ENTRY_READER),
        ([{"insertId": "odd", "labels": ["not", "an", "object"]}], ENTRY_READER),
        (["not an object"], ENTRY_READER),
    ],
)
def test_the_column_reader_serves_unless_an_entry_needs_the_other(
    tmp_path: Path, extra: list[object], reader: str
) -> None:
    entries = [entry({"event": "startup_started"}, t=n) for n in range(5)] + extra
    path = str(write_ndjson(tmp_path / "e.jsonl", entries))
    con = batch_connection({path: path}, spill_dir=tmp_path)
    stage(con, env="staging")
    assert _reader_used(con) == reader
    assert con.execute("SELECT count(*) FROM staged").fetchall() == [(len(entries),)]
