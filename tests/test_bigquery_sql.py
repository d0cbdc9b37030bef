"""Every GoogleSQL file of queries/bigquery/ passes Google's own analyzer (ZetaSQL), as the
engine sends it: the run's fetch with its views, over each table shape, against a catalog of
the sink, Log Analytics and lake-shaped columns. Names, types, parameters and functions are all
resolved."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from analyzer.engine.bigquery import QUESTIONS
from analyzer.engine.bigquery_sql import (
    SHAPES,
    bigquery_sql,
    compose,
    schema_paths,
    shard_rows,
    sink_padding,
)
from analyzer.engine.materialize import (
    DEST_PLACEHOLDER,
    ROWS_PLACEHOLDER,
    last_day_statement,
    merge_statement,
)
from analyzer.lake.sql import queries_dir
from tests.bigquery_tables import sink_schema

pytest.importorskip("zetasql", reason="the zetasql package (dev dependency) is not installed")

from tests.googlesql_analyzer import SHARDS, GoogleSqlAnalyzer


@pytest.fixture(scope="module")
def analyzer() -> Iterator[GoogleSqlAnalyzer]:
    yield GoogleSqlAnalyzer()


def _statements() -> Iterator[tuple[str, str, str]]:
    """Every statement the engine sends (QUESTIONS: the run's fetch) over each table shape, and
    over the shapes' variants: date shards, each with its own columns; no shard in the scan; a
    sink table the engine pads."""
    # date shards, each with its own columns (the newer lacks jsonPayload)
    shards = {
        SHARDS[0]: schema_paths(sink_schema()),
        SHARDS[1]: schema_paths(sink_schema(with_json_payload=False)),
    }
    for shape in SHAPES:
        for question in QUESTIONS:
            yield shape, question, compose(question, shape=shape, shards=shards).sql
    # no shard in the window
    yield "sink-shards", "fetch_rows, no shard", compose("fetch_rows", shape="sink-shards").sql
    # a sink table with no jsonPayload (text lines only): the engine pads its columns
    padding = sink_padding(schema_paths(sink_schema(with_json_payload=False)))
    yield "sink", "fetch_rows+padding", compose("fetch_rows", shape="sink", padding=padding).sql
    # analyze bigquery materialize: its MERGE from each raw shape into a table of the lake's
    # columns, and its look for the table's last day
    for shape in SHAPES:
        if shape != "lake":
            rows = compose("materialize_rows", shape=shape, shards=shards)
            yield shape, "materialize", merge_statement(rows, "lake_table").sql
    yield "lake", "materialize_last_day", last_day_statement("lake_table").sql


def test_every_statement_is_googlesql(analyzer: GoogleSqlAnalyzer) -> None:
    failures = []
    for shape, question, sql in _statements():
        try:
            analyzer.analyze(sql)
        except Exception as exc:
            failures.append(f"{question} over {shape}: {exc}")
    assert not failures, "\n".join(failures)


def test_every_file_is_in_some_statement() -> None:
    sent = "\n".join(sql for _, _, sql in _statements())
    for path in sorted((queries_dir() / "bigquery").glob("*.sql")):
        text = bigquery_sql(path.stem).replace("`sink_shard`", f"`{SHARDS[0]}`")  # a shard's
        text = text.replace(DEST_PLACEHOLDER, "`lake_table`")  # materialize's dest
        # materialize_merge holds materialize_rows' statement in its place
        for part in text.split(ROWS_PLACEHOLDER):
            assert part in sent, f"{path.name} is never sent"


def test_the_analyzer_refuses_what_bigquery_would(analyzer: GoogleSqlAnalyzer) -> None:
    """A wrong column, a DuckDB function and an unknown parameter each fail: the check above
    can fail."""
    for sql in (
        "SELECT jsonPayload.Event FROM `sink_table` WHERE jsonPayload.evnt = 'x'",
        "SELECT epoch(timestamp) FROM `sink_table`",
        "SELECT 1 FROM `log_analytics_table` WHERE timestamp > @since",
        "SELECT COUNT(*) FROM `log_analytics_table` WHERE json_payload.event = 'x'",
    ):
        with pytest.raises(Exception, match=r"INVALID_ARGUMENT"):
            analyzer.analyze(sql)


def test_sink_padding_only_where_a_column_is_missing() -> None:
    assert sink_padding(schema_paths(sink_schema())) is None
    padding = sink_padding(schema_paths(sink_schema(with_json_payload=False)))
    assert padding is not None
    assert "CAST(NULL AS STRING) AS event" in padding
    assert "textPayload AS textPayload" in padding


def test_each_shard_is_read_with_its_own_columns() -> None:
    """A field one shard lacks is NULL in that shard's select only; the others read it."""
    rows = shard_rows(
        {
            SHARDS[0]: schema_paths(sink_schema()),
            SHARDS[1]: schema_paths(sink_schema(with_json_payload=False)),
        }
    )
    first, second = rows.split("\nUNION ALL\n")
    assert f"`{SHARDS[0]}`" in first and "jsonPayload.event AS event" in first
    assert f"`{SHARDS[1]}`" in second and "CAST(NULL AS STRING) AS event" in second
    assert "textPayload AS textPayload" in second
    assert "LIMIT 0" in shard_rows({})
