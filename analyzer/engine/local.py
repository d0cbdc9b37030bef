"""The local engine: DuckDB over the lake's Parquet segments, with the views of `queries/`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import duckdb

from analyzer.errors import NoDataError
from analyzer.lake.connection import new_connection
from analyzer.lake.sql import load_sql
from analyzer.lake.store import Store

if TYPE_CHECKING:  # numpy arrives with the first query that needs it, polars likewise
    import numpy as np
    import polars as pl

# Views of queries/, in dependency order: each may read the ones before it.
VIEWS = ("events", "vpc_states", "startups", "phase_attempts")


class LocalEngine:
    """Answers questions over one store; each question opens a connection of its own, so it
    sees the segments published up to then."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def where(self) -> str:
        return f"store {self.store.root}"

    def no_data_error(self, env: str) -> NoDataError:
        return NoDataError(
            f"no telemetry for env {env!r} in {self.where}{self.store.other_envs_hint(env)}; "
            "fill it with "
            f"`analyze import PATH --env {env}` or `analyze collect --env {env} --project PROJECT`"
        )

    def rows(
        self, question: str, params: Mapping[str, object] | None = None
    ) -> list[dict[str, object]]:
        con = connect(self.store)
        try:
            return query_rows(con, question, params)
        finally:
            con.close()

    def frame(self, question: str, params: Mapping[str, object] | None = None) -> pl.DataFrame:
        con = connect(self.store)
        try:
            return query_frame(con, question, params)
        finally:
            con.close()

    def attempt_columns(
        self, params: Mapping[str, object]
    ) -> tuple[list[tuple[Any, ...]], dict[str, np.ndarray]]:
        """The window's attempts (phase_attempt_durations.sql) as group keys (attempt_groups.sql:
        gid, phase, operation, vpc_state, attempts) and numeric columns (attempt_numbers.sql)."""
        con = connect(self.store)
        try:
            con.execute(
                "CREATE TEMP TABLE attempts_in_window AS " + load_sql("phase_attempt_durations"),
                dict(params),
            )
            con.execute("CREATE TEMP TABLE attempt_groups AS " + load_sql("attempt_groups"))
            keys = con.execute("SELECT * FROM attempt_groups ORDER BY gid").fetchall()
            columns = con.execute(load_sql("attempt_numbers")).fetchnumpy()
        finally:
            con.close()
        return keys, dict(columns)


def connect(store: Store) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection whose views (`queries/`) read the store's segments."""
    con = new_connection()
    segments = store.segments("events")
    files = [str(p) for p in segments]
    if files:
        con.execute("SET VARIABLE lake_files = ?", [files])
        con.execute(
            "CREATE TEMP VIEW lake_rows AS SELECT * FROM read_parquet("
            "getvariable('lake_files'), hive_partitioning = false, union_by_name = true)"
        )
    else:
        con.execute("CREATE TEMP VIEW lake_rows AS " + load_sql("lake_schema"))
    sealed = store.all_sealed(segments)
    for view in VIEWS:
        sql = load_sql(view)
        if view == "events" and sealed:
            # no segment can repeat another's entries: the deduplication would find nothing
            sql = "SELECT * FROM lake_rows"
        elif view == "phase_attempts" and not sealed:
            # `events` deduplicates on every read: read it once (see the query's first CTE)
            sql = sql.replace("AS NOT MATERIALIZED", "AS MATERIALIZED", 1)
        con.execute(f"CREATE TEMP VIEW {view} AS " + sql)
    return con


def query_rows(
    con: duckdb.DuckDBPyConnection, query: str, params: Mapping[str, object] | None = None
) -> list[dict[str, object]]:
    """Run `queries/<query>.sql` with bound parameters; rows as dicts keyed by column name."""
    cursor = con.execute(load_sql(query), dict(params or {}))
    columns = [d[0] for d in cursor.description or []]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def query_frame(
    con: duckdb.DuckDBPyConnection, query: str, params: Mapping[str, object] | None = None
) -> pl.DataFrame:
    """Run `queries/<query>.sql` with bound parameters; the result as a polars frame, its
    timestamps in UTC."""
    import polars as pl  # here, not at the top: most commands never need it

    columns = con.execute(load_sql(query), dict(params or {})).fetchnumpy()
    frame = pl.DataFrame(columns)
    return frame.with_columns(pl.col(pl.Datetime).dt.replace_time_zone("UTC"))
