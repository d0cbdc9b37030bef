"""The local engine: DuckDB over the lake's Parquet segments, with the views of `queries/`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb

from analyzer.engine import AttemptRows
from analyzer.errors import NoDataError
from analyzer.lake.connection import new_connection, new_session
from analyzer.lake.snapshot import Snapshot
from analyzer.lake.sql import load_sql
from analyzer.lake.store import Store
from analyzer.lake.verify import naming_damaged_segments

if TYPE_CHECKING:  # numpy arrives with the first query that needs it, polars likewise
    from pathlib import Path

    import numpy as np
    import polars as pl

# Views of queries/, in dependency order: each may read the ones before it.
VIEWS = ("events", "vpc_states", "startups", "phase_attempts")
T = TypeVar("T")


class LocalEngine:
    """Answers questions over one store; each question reads the segments as they are listed
    when it is asked, through a snapshot that keeps them readable while a compact replaces
    them (see `lake.snapshot`). Opening a DuckDB database and its views costs more than most
    questions take (`summary` asks three), so the engine opens one database, and a question
    asked over the same listing as the one before reuses its connection (a connection serves
    one question at a time; a question asked meanwhile, from another thread, opens one of its
    own)."""

    def __init__(self, store: Store, *, attempt_rows: AttemptRows = "auto") -> None:
        self.store = store
        self.attempt_rows: AttemptRows = attempt_rows
        self._database: duckdb.DuckDBPyConnection | None = None
        self._idle: tuple[Snapshot, duckdb.DuckDBPyConnection] | None = None
        self._lock = threading.Lock()

    def _session(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._database is None:
                self._database = new_connection()
            return new_session(self._database)

    def _checkout(self) -> tuple[Snapshot, duckdb.DuckDBPyConnection]:
        with self._lock:
            idle, self._idle = self._idle, None
        snapshot = Snapshot.take(self.store, unless=idle[0].segments if idle else None)
        if snapshot is None:
            assert idle is not None
            return idle
        if idle is not None:
            _close(*idle)
        try:
            con = connect(
                self.store, segments=snapshot.segments, files=snapshot.files, session=self._session
            )
        except BaseException:
            snapshot.remove()
            raise
        return snapshot, con

    def _checkin(self, held: tuple[Snapshot, duckdb.DuckDBPyConnection]) -> None:
        with self._lock:
            if self._idle is None:
                self._idle = held
                return
        _close(*held)

    @property
    def where(self) -> str:
        return f"store {self.store.location}"

    def no_data_error(self, env: str) -> NoDataError:
        return NoDataError(
            f"no telemetry for env {env!r} in {self.where}{self.store.other_envs_hint(env)}; "
            "fill it with "
            f"`analyze import PATH --env {env}` or `analyze collect --env {env} --project PROJECT`"
        )

    def rows(
        self, question: str, params: Mapping[str, object] | None = None
    ) -> list[dict[str, object]]:
        return self.ask(lambda con: query_rows(con, question, params))

    def frame(self, question: str, params: Mapping[str, object] | None = None) -> pl.DataFrame:
        return self.ask(lambda con: query_frame(con, question, params))

    def attempt_columns(
        self, params: Mapping[str, object]
    ) -> tuple[list[tuple[Any, ...]], dict[str, np.ndarray]]:
        """The window's attempts (phase_attempt_durations.sql) as group keys (attempt_groups.sql:
        gid, service, phase, operation, vpc_state, attempts) and numeric columns
        (attempt_numbers.sql)."""

        return self.ask(lambda con: window_attempts(con, params, counted=False))

    def attempt_counts(
        self, params: Mapping[str, object]
    ) -> tuple[list[tuple[Any, ...]], dict[str, np.ndarray]]:
        """The window's attempts as `attempt_columns` gives them, counted per distinct
        duration (attempt_counts.sql) before they leave DuckDB."""
        return self.ask(lambda con: window_attempts(con, params, counted=True))

    def attempt_total(self, params: Mapping[str, object]) -> int:
        found = self.rows("attempt_total", params)[0]["attempts"]
        assert isinstance(found, int)
        return found

    def ask(self, question: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """`question` over a connection to a snapshot of the store's segments as they are
        listed now (a compact meanwhile changes nothing it reads); a failure names the damaged
        segment if there is one."""
        with naming_damaged_segments(self.store):
            held = self._checkout()
            try:
                answer = question(held[1])
            except BaseException:
                _close(*held)
                raise
            self._checkin(held)
            return answer


def _close(snapshot: Snapshot, con: duckdb.DuckDBPyConnection) -> None:
    con.close()
    snapshot.remove()


def window_attempts(
    con: duckdb.DuckDBPyConnection, params: Mapping[str, object], *, counted: bool
) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    """The window's group keys (attempt_groups.sql) and its attempts' numbers, one row each
    (attempt_numbers.sql) or counted (attempt_counts.sql over those rows)."""
    # DuckDB guesses the attempts of phase_attempts.sql at a few thousand rows and so builds
    # the timeline's join on them (hundreds of thousands) rather than on its few hundred hours
    # (a fifth of the query's CPU): its joins have the small side on the right, where DuckDB
    # builds when it does not swap them.
    con.execute("SET disabled_optimizers = 'build_side_probe_side'")
    try:
        con.execute(
            "CREATE TEMP TABLE attempts_in_window AS " + load_sql("phase_attempt_durations"),
            dict(params),
        )
    finally:
        con.execute("RESET disabled_optimizers")
    con.execute("CREATE TEMP TABLE attempt_groups AS " + load_sql("attempt_groups"))
    try:
        keys = con.execute("SELECT * FROM attempt_groups ORDER BY gid").fetchall()
        if not counted:
            return keys, dict(con.execute(load_sql("attempt_numbers")).fetchnumpy())
        con.execute("CREATE TEMP VIEW attempt_rows AS " + load_sql("attempt_numbers"))
        try:
            return keys, dict(con.execute(load_sql("attempt_counts")).fetchnumpy())
        finally:
            con.execute("DROP VIEW attempt_rows")
    finally:  # the connection may serve the next question
        con.execute("DROP TABLE attempt_groups; DROP TABLE attempts_in_window")


def connect(
    store: Store,
    *,
    segments: list[Path] | None = None,
    files: list[Path] | None = None,
    session: Callable[[], duckdb.DuckDBPyConnection] = new_connection,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection (a new database, or what `session` opens) whose views
    (`queries/`) read the store's segments (or these of them, read from `files`: a snapshot's
    links to them)."""
    con = session()
    segments = store.segments("events") if segments is None else segments
    files_read = [str(p) for p in (segments if files is None else files)]
    if files_read:
        con.execute("SET VARIABLE lake_files = ?", [files_read])
        # By name only where the segments' columns differ (a lake written before a column was
        # added): DuckDB then reads every file's footer each time a view over them is bound.
        by_name = "true" if _schemas_differ(con) else "false"
        con.execute(
            "CREATE TEMP VIEW lake_rows AS SELECT * FROM read_parquet("
            f"getvariable('lake_files'), hive_partitioning = false, union_by_name = {by_name})"
        )
    else:
        con.execute("CREATE TEMP VIEW lake_rows AS " + load_sql("lake_schema"))
    add_views(con, sealed=store.all_sealed(segments))
    return con


def _schemas_differ(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the files of `lake_files` differ in their columns (names, types, order)."""
    ((schemas,),) = con.execute(
        "SELECT count(DISTINCT columns) FROM (SELECT list(("
        "name, type, type_length, repetition_type, num_children, converted_type, scale, "
        "precision, logical_type, duckdb_type"
        ") ORDER BY column_id) AS columns FROM parquet_schema(getvariable('lake_files')) "
        "GROUP BY file_name)"
    ).fetchall()
    return bool(schemas > 1)


def add_views(con: duckdb.DuckDBPyConnection, *, sealed: bool) -> None:
    """The views of `queries/` (VIEWS) over the connection's `lake_rows`; `sealed`: no row of
    it repeats another's insert id, so `events` need not deduplicate."""
    for view in VIEWS:
        sql = load_sql(view)
        if view == "events" and sealed:
            # no segment can repeat another's entries: the deduplication would find nothing
            sql = "SELECT * FROM lake_rows"
        elif view == "phase_attempts" and not sealed:
            # `events` deduplicates on every read: read it once (see the query's first CTE)
            sql = sql.replace("AS NOT MATERIALIZED", "AS MATERIALIZED", 1)
        con.execute(f"CREATE TEMP VIEW {view} AS " + sql)


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
