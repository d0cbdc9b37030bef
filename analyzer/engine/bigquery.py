"""The BigQuery engine: one scan a run of where a Log Router sink or Log Analytics already put
the services' logs (or of a table of the lake's columns), fetching an env's telemetry rows in
the lake's columns (fetch_rows.sql, GoogleSQL); the questions are answered from them locally by
the lake's own queries, so their answers are the lake's by construction.

Every statement is dry-run first, its bytes printed to stderr and held to `max_bytes_billed`,
which every job also carries (BigQuery then refuses to bill more). Results come over the REST
API, or the Storage Read API (Arrow) where the client has it and the endpoint is Google's.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import TimeoutError as FuturesTimeout
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb

from analyzer.engine import AttemptRows
from analyzer.engine.bigquery_sql import (
    SHAPES,
    Shape,
    Statement,
    bound,
    check_table_id,
    compose,
    schema_paths,
    sink_padding,
    with_source,
)
from analyzer.errors import AnalyzerError, NoDataError

if TYPE_CHECKING:
    import numpy as np
    import polars as pl
    import pyarrow as pa
    from google.api_core.retry import Retry
    from google.cloud import bigquery

# The statements the engine sends (files of queries/bigquery/): an env's rows over a span, in
# the lake's columns, with the VPC state in force at its start and the env mix (fetch_rows);
# every question is then answered from them by the lake's own queries (queries/*.sql).
QUESTIONS = ("fetch_rows",)
# The bytes one run may bill, all its queries together (--max-bytes-billed): 256 GiB ($1.56 on
# demand at $6.25 a TiB). The default weekly job, a table-format recommend over 28 days of an
# env at 100 million entries a week (286-406 bytes an entry read), reads each raw byte once in
# two queries: the 8-day --lookback and its day before (and the day after it, empty), then the
# rest of the window with its day before (29 - 9 = 20 days) and the 8 days before that where
# the VPC state in force at the window's start is looked for: 37 days, 100 M x 37/7 = 528.6 M
# entries x 286-406 B = 141-200 GiB; a run that would bill more stops before the query that
# would pass it (docs/bigquery.md has the arithmetic).
DEFAULT_MAX_BYTES_BILLED = 256 * 1024**3
# How long one query job may run (--job-timeout): BigQuery cancels it then (job_timeout_ms),
# and the engine stops waiting for it.
DEFAULT_JOB_TIMEOUT = timedelta(minutes=10)
MIN_BILLED = 10 * 1024**2
DEFAULT_LOOKBACK = timedelta(days=8)  # questions with no window of their own read this far back
# A windowed question reads from a day before the window to a day after it (an attempt that
# started inside may end after it; a phase lasts at most a day, as the importer checks), and
# the VPC state change in force at its start, however far back within --lookback.
SCAN_MARGIN = timedelta(days=1)
# How long one BigQuery call keeps retrying what may pass (a 5xx, a rate limit, a dropped
# connection): the client's own ten minutes, each retry a line on stderr. A refused connection
# or a host that does not resolve is not retried: nothing there will answer.
RETRY_DEADLINE_S = 600.0
GOOGLE_ENDPOINT = "https://bigquery.googleapis.com"
# What a fetched telemetry row takes in memory at the peak of a fetch: about 1,000 bytes held in
# DuckDB and 700 more in the Arrow batch while it lands (measured on the fleet's rows).
BYTES_PER_FETCHED_ROW = 1_700


def memory_row_cap() -> int:
    """The telemetry rows a run may hold: what half this machine's memory takes at
    BYTES_PER_FETCHED_ROW a row (a run past it stops in one line instead of running out)."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = 8 * 1024**3
    return max(memory // 2 // BYTES_PER_FETCHED_ROW, 1)


T = TypeVar("T")
# The lake's rows a question reads (`lake_rows`, under the lake's views): the fetched rows of
# its span, and the last VPC state change of its env held before the span (the state in force
# when it starts, as the lake, which keeps the whole timeline, finds it): the held rows are
# whole from the run's first fetched instant, and a change held before that is the last before
# it (fetched as such), however far before the span's --lookback.
_SPAN_ROWS = """
SELECT * FROM fetched
WHERE ts >= getvariable('span_start') AND ts < getvariable('span_end')
UNION ALL
SELECT * FROM (
    SELECT * FROM fetched
    WHERE env = getvariable('span_env') AND event = 'vpc_state_changed'
      AND vpc_state IS NOT NULL AND ts < getvariable('span_start')
    ORDER BY ts DESC, insert_id DESC
    LIMIT 1
)
"""
# The lake's views that read the VPC state timeline: a question reading one of them needs the
# state in force at its span's start.
_TIMELINE_VIEWS = ("vpc_states", "phase_attempts")


class MixedEnvsError(AnalyzerError):
    """The source holds several envs and some entries say none (exit code 1, as bad input)."""


class BytesLimitError(AnalyzerError):
    """A query would scan more than --max-bytes-billed allows (exit code 1, as bad input)."""


def to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _gib(n: int) -> str:
    return f"{n / 1024**3:,.2f} GiB"


@dataclass
class Held:
    """What a run has fetched of one env: its rows from `start` to `end`; `prior_since`: the
    VPC state change in force at `start` was looked for back to then (None: not looked for)."""

    start: datetime
    end: datetime
    prior_since: datetime | None
    # the entries of the fetched spans by env, form and service (fetch_rows' `mix` rows)
    mix: dict[tuple[str | None, str, str], int] = field(default_factory=dict)


@dataclass
class BigQueryEngine:
    """Answers questions over one BigQuery table or view (`source`: PROJECT.DATASET.TABLE):
    each env's rows are fetched once a run, in the lake's columns, into an in-memory DuckDB
    (fetch_rows.sql: only the part of a question's span not fetched yet), and every question
    is answered there by the lake's own queries (`queries/*.sql`, the views of `engine.local`):
    the lake's answers by construction."""

    client: bigquery.Client
    source: str
    shape: Shape
    max_bytes_billed: int = DEFAULT_MAX_BYTES_BILLED
    lookback: timedelta = DEFAULT_LOOKBACK
    storage_api: bool = True
    attempt_rows: AttemptRows = "auto"
    padding: str | None = None
    report: Callable[[str], None] = field(default=lambda line: to_stderr(line))
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    endpoint: str | None = None
    job_timeout: timedelta = DEFAULT_JOB_TIMEOUT
    location: str | None = None
    labels: dict[str, str] = field(default_factory=dict)  # the command's and env's
    billed: int = 0  # bytes billed by this run's jobs so far (the budget's spent part)
    max_rows: int = field(default_factory=memory_row_cap)  # telemetry rows a run may hold
    # shape sink-shards: every date shard's table id (tables.list), and those whose schema
    # is read (tables.get, when a scan first reaches its day) to their leaf paths
    shard_ids: tuple[str, ...] = ()
    shards: dict[str, set[str]] = field(default_factory=dict)
    # the --env's services where the source holds several envs (--source-services)
    env_services: tuple[str, ...] = ()
    # the command's window, when it is known up front: over shape lake, the first question
    # fetches it, the --lookback and its own span in one query (one query a run)
    window: tuple[datetime, datetime] | None = None
    jobs: int = 0  # query jobs run (dry runs not counted)
    held: dict[str, Held] = field(default_factory=dict)  # env -> what is fetched of it
    _con: duckdb.DuckDBPyConnection | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _now: datetime | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        return f"BigQuery {self.source} ({self.shape})"

    def no_data_error(self, env: str) -> NoDataError:
        return NoDataError(
            f"no telemetry for env {env!r} in {self.where} over the last {self.lookback.days} "
            "days; check --source (a table of the services' stdout), or widen --lookback"
        )

    # -- the questions, answered from the fetched rows ------------------------------------

    def rows(
        self, question: str, params: Mapping[str, object] | None = None
    ) -> list[dict[str, object]]:
        from analyzer.engine.local import query_rows

        return self._ask(question, params, lambda con: query_rows(con, question, params))

    def frame(self, question: str, params: Mapping[str, object] | None = None) -> pl.DataFrame:
        from analyzer.engine.local import query_frame

        return self._ask(question, params, lambda con: query_frame(con, question, params))

    def attempt_columns(
        self, params: Mapping[str, object]
    ) -> tuple[list[tuple[Any, ...]], dict[str, np.ndarray]]:
        """The window's attempts as the local engine gives them (one row each)."""
        from analyzer.engine.local import window_attempts

        return self._ask(
            "phase_attempt_durations",
            params,
            lambda con: window_attempts(con, params, counted=False),
        )

    def attempt_counts(
        self, params: Mapping[str, object]
    ) -> tuple[list[tuple[Any, ...]], dict[str, np.ndarray]]:
        """The window's attempts counted per distinct duration, as the local engine does."""
        from analyzer.engine.local import window_attempts

        return self._ask(
            "phase_attempt_durations",
            params,
            lambda con: window_attempts(con, params, counted=True),
        )

    def attempt_total(self, params: Mapping[str, object]) -> int:
        found = self.rows("attempt_total", params)[0]["attempts"]
        assert isinstance(found, int)
        return found

    def _ask(
        self,
        question: str,
        params: Mapping[str, object] | None,
        answer: Callable[[duckdb.DuckDBPyConnection], T],
    ) -> T:
        """`answer` over the fetched rows of the question's env and span (fetched first where
        missing), the view `lake_rows` showing that span only and the VPC state change in
        force at its start, as the statements over BigQuery read it before."""
        values = dict(params or {})
        env = values.get("env")
        if not isinstance(env, str):
            raise AnalyzerError(f"{question}: the BigQuery engine answers one env's questions")
        start, end = self._span(values)
        with self._lock:
            con = self._connection()
            # the instant whose VPC state the answer reads: its window's start (the day before
            # it is read for the attempts' events only), else its span's
            asked = values.get("start")
            state_at = asked if isinstance(asked, datetime) else start
            needs_prior = _reads_vpc_timeline(question)
            self._cover(con, env, start, end, needs_prior=needs_prior, state_at=state_at)
            spanned = {"span_env": env, "span_start": start, "span_end": end}
            for name, value in spanned.items():
                con.execute(f"SET VARIABLE {name} = ?", [value])
            return answer(con)

    def _span(self, values: Mapping[str, object]) -> tuple[datetime, datetime]:
        """A question's span: its window with SCAN_MARGIN either side, else --lookback back
        from the run's start (one instant for the run, so its questions share their span)."""
        start, end = values.get("start"), values.get("end")
        if isinstance(start, datetime) and isinstance(end, datetime):
            return start - SCAN_MARGIN, end + SCAN_MARGIN
        if self._now is None:
            self._now = self.now()
        return self._now - self.lookback, self._now + SCAN_MARGIN

    # -- fetching -------------------------------------------------------------------------

    def _connection(self) -> duckdb.DuckDBPyConnection:
        """The run's in-memory DuckDB: the table `fetched` (the lake's columns) and the lake's
        views over `lake_rows`, the fetched rows of the span asked."""
        if self._con is None:
            from analyzer.engine.local import add_views
            from analyzer.lake.connection import new_connection
            from analyzer.lake.sql import load_sql

            con = new_connection()
            con.execute("CREATE TABLE fetched AS " + load_sql("lake_schema"))
            con.execute("CREATE TEMP VIEW lake_rows AS " + _SPAN_ROWS)
            add_views(con, sealed=False)
            self._con = con
        return self._con

    def _cover(
        self,
        con: duckdb.DuckDBPyConnection,
        env: str,
        start: datetime,
        end: datetime,
        *,
        needs_prior: bool,
        state_at: datetime | None = None,
    ) -> None:
        """Fetches what the span [start, end) of `env` needs and the run has not fetched: the
        rows before what it holds (with the VPC state in force at their start) and after; the
        state alone where the question reads the VPC timeline and the held rows cannot say the
        state at `state_at` (its window's start: no change held before it, and the stretch from
        --lookback before the span not all held or looked through). The first fetch looks for
        the state where the question needs it or the run has no window (its questions read
        this span only). Over a raw table, a run's first fetch over --lookback takes the day
        before it too where its window may reach there: a window a day shorter than --lookback
        (--since 7d, --lookback 8d) that ends at the env's last event reads from before the
        --lookback by how old that event is, and would bill a second query for those hours
        (and for the state before them).
        Over shape lake, the first fetch takes the run's whole span (`window`, --lookback)."""
        held = self.held.get(env)
        if held is None:
            # a run with no window reads no more than this span: its questions that read the
            # VPC timeline will need the state in force at its start (a run with a window
            # fetches the window next, and the state before that)
            needs_prior = needs_prior or self.window is None
            if self.shape == "lake":  # cheap: the whole run's span at once
                spans = [(start, end), self._span({})]
                if self.window is not None:
                    spans.append(self._span({"start": self.window[0], "end": self.window[1]}))
                start, end = min(s for s, _ in spans), max(e for _, e in spans)
                needs_prior = True
            elif self.window is not None and (start, end) == self._span({}):
                reach = self._span({"start": self.window[0], "end": self.window[1]})[0]
                start = min(start, max(reach, start - SCAN_MARGIN))
            start, end = _midnight(start), _midnight(end, up=True)
            prior_since = start - self.lookback if needs_prior else None
            self._fetch(con, env, start, end, prior_since=prior_since)
            return
        if start < held.start:  # the window before the --lookback: the state before it too
            before = _midnight(start)
            self._fetch(con, env, before, held.start, prior_since=before - self.lookback)
        if end > held.end:
            self._fetch(con, env, held.end, _midnight(end, up=True), prior_since=None)
        since = start - self.lookback  # how far back the lake's answer looks for the state
        looked = held.prior_since is not None and held.prior_since <= since
        if (
            needs_prior
            and since < held.start
            and not looked
            and not _has_vpc_change(con, env, state_at or start)
        ):  # no state change held before the span: look back to `since` only
            self._fetch(con, env, held.start, held.start, prior_since=since)

    def _fetch(
        self,
        con: duckdb.DuckDBPyConnection,
        env: str,
        start: datetime,
        end: datetime,
        *,
        prior_since: datetime | None,
    ) -> None:
        """One query (fetch_rows.sql): `env`'s rows from `start` to `end` into `fetched`; with
        `prior_since`, the scan starts then, for the VPC state change in force at `start`.
        Checks the env mix of what it read."""
        scan_start = start if prior_since is None else min(prior_since, start)
        what = f"{env}'s rows from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
        if start == end:
            what = f"the VPC state in force for {env} at {start:%Y-%m-%d %H:%M} UTC"
        elif prior_since is not None:
            what += ", and the VPC state in force at their start"
        self.report(f"bigquery: fetching {what}")
        params = {
            "env": env,
            "fetch_start": start,
            "fetch_end": end,
            "scan_start": scan_start,
            "scan_end": end,
        }
        job = self._run(self._compose("fetch_rows", params), params)
        held_rows = con.execute("SELECT count(*) FROM fetched").fetchall()[0][0]
        table = self._arrow(job, room=self.max_rows - int(held_rows), what=what)
        con.register("batch", table)
        try:
            con.execute(
                "DELETE FROM fetched WHERE env = ? AND ts >= ? AND ts < ?", [env, start, end]
            )
            con.execute(
                "INSERT INTO fetched BY NAME SELECT * EXCLUDE (kind, entries), "
                "? AS source_file, ? AS ingested_at, CAST(ts AS DATE) AS date "
                "FROM batch WHERE kind <> 'mix'",
                [f"bigquery:{self.source}", self._now or self.now()],
            )
            mix = con.execute(
                "SELECT env, form, service, entries FROM batch WHERE kind = 'mix'"
            ).fetchall()
            began = con.execute("SELECT max(ts) FROM batch WHERE kind = 'prior'").fetchall()[0]
        finally:
            con.unregister("batch")
        held = self.held.get(env)
        if held is None:
            held = self.held[env] = Held(start=start, end=end, prior_since=prior_since)
        elif start < held.start:
            held.start, held.prior_since = start, prior_since
        elif start == end == held.start:  # the state alone, looked for back to `prior_since`
            known = [t for t in (held.prior_since, prior_since) if t is not None]
            held.prior_since = min(known, default=None)
        else:
            held.end = max(held.end, end)
        for row_env, form, service, entries in mix:
            key = (row_env, str(form), str(service))
            held.mix[key] = held.mix.get(key, 0) + int(entries)
        if isinstance(began[0], datetime):
            self.report(
                f"bigquery: the VPC state in force at {start:%Y-%m-%d %H:%M} UTC began "
                f"{began[0]:%Y-%m-%d %H:%M:%S} UTC"
            )
        elif prior_since is not None and _has_vpc_change(con, env):
            self.report(
                f"bigquery: no VPC state change of {env} in the {self.lookback.days} days of "
                f"--lookback before {start:%Y-%m-%d %H:%M} UTC: the state in force at "
                f"{start:%Y-%m-%d %H:%M} UTC reads as unknown until the next change; "
                "widen --lookback to find it"
            )
        if self.shape != "lake":
            self._check_envs(env, held.mix)

    def _check_envs(self, env: str, mix: Mapping[tuple[str | None, str, str], int]) -> None:
        """Refuses a source where entries naming envs sit beside text lines that say none: a
        sink table may hold several envs, and counted as `env` those lines could mix them.
        --source-services attributes them; a table of text lines only is one env's, as an
        imported file is."""
        named: dict[str, int] = {}
        unsaid: dict[str, int] = {}
        for (name, form, service), entries in mix.items():
            if name is None:
                continue
            if form == "structured":
                named[name] = named.get(name, 0) + entries
            elif not self.env_services:
                unsaid[service] = unsaid.get(service, 0) + entries
        if named and unsaid:
            envs = ", ".join(f"{name}: {n:,}" for name, n in sorted(named.items()))
            services = ", ".join(sorted(unsaid))
            raise MixedEnvsError(
                f"{self.source} holds {sum(unsaid.values()):,} text lines that say no env "
                f"(services {services}) beside entries naming envs ({envs}): counted as {env} "
                f"they may mix envs; name {env}'s services with --source-services "
                "(source-services in analyzer.toml), or give each env a sink of its own"
            )

    def _compose(self, question: str, params: Mapping[str, object]) -> Statement:
        """The question's statement; over date shards, those of the scan, each with its own
        columns."""
        shards = None
        if self.shape == "sink-shards":
            # the scan ends before @scan_end: a shard of that day holds none of its rows
            first, last = (
                f"{value:%Y%m%d}" if isinstance(value, datetime) else ""
                for value in (params["scan_start"], _before(params["scan_end"]))
            )
            shards = self._shard_schemas([t for t in self.shard_ids if first <= t[-8:] <= last])
        return compose(question, shape=self.shape, padding=self.padding, shards=shards)

    def _shard_schemas(self, tables: list[str]) -> dict[str, set[str]]:
        """Each of the date shards `tables`' leaf paths, read from its table's schema (tables.get,
        a metadata call: no query job, nothing billed) the first time a scan reaches its day: a
        sink adds a payload field to a day's shard only when an entry of that day first carries
        it, so the shards' schemas differ."""
        from google.api_core.exceptions import GoogleAPIError

        unread = [t for t in tables if t not in self.shards]
        if unread:
            self.report(f"bigquery: reading the columns of {len(unread)} date shards")
        try:
            for table in unread:
                with reaching(self.endpoint):
                    found = self.client.get_table(table, retry=self._retry())
                self.shards[table] = schema_paths(found.schema)
        except GoogleAPIError as exc:
            raise AnalyzerError(f"cannot read the date shard's schema: {exc}") from exc
        return {t: self.shards[t] for t in tables}

    # -- running a statement ------------------------------------------------------------

    def _values(self, params: Mapping[str, object] | None) -> dict[str, object]:
        values = dict(params or {})
        env = values.get("env")
        if env is not None:
            values.setdefault("default_env", env)
        values["env_services"] = list(self.env_services)
        return values

    def _dry_run(self, statement: Statement, params: Mapping[str, object] | None) -> int:
        """The bytes a statement would scan."""
        from google.api_core.exceptions import BadRequest, Forbidden
        from google.cloud import bigquery

        try:
            with reaching(self.endpoint):
                dry = self.client.query(
                    with_source(statement.sql, self.source),
                    job_config=bigquery.QueryJobConfig(
                        dry_run=True,
                        use_query_cache=False,
                        query_parameters=self._parameters(statement, params),
                    ),
                    location=self.location,
                    retry=self._retry(),
                )
        except (BadRequest, Forbidden) as exc:
            raise AnalyzerError(f"BigQuery refused the query on {self.source}: {exc}") from exc
        return int(dry.total_bytes_processed or 0)

    def _parameters(
        self, statement: Statement, params: Mapping[str, object] | None
    ) -> list[bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter]:
        return [
            _parameter(name, value)
            for name, value in bound(statement.parameters, self._values(params)).items()
        ]

    def _run(self, statement: Statement, params: Mapping[str, object] | None) -> bigquery.QueryJob:
        from google.api_core.exceptions import BadRequest, Forbidden
        from google.cloud import bigquery

        sql = with_source(statement.sql, self.source)
        parameters = self._parameters(statement, params)
        scanned = self._dry_run(statement, params)
        self.report(f"bigquery: {_gib(scanned)} to scan ({scanned:,} bytes) in {self.source}")
        left = self.max_bytes_billed - self.billed
        if scanned > left:
            raise BytesLimitError(_over_limit(scanned, self.max_bytes_billed, self.billed))
        timeout_s = self.job_timeout.total_seconds()
        question = sql.split("\n", 1)[0].removeprefix("-- analyzer: ")
        labels = {**self.labels, "question": question}
        try:
            with reaching(self.endpoint):
                job = self.client.query(
                    sql,
                    job_config=bigquery.QueryJobConfig(
                        query_parameters=parameters,
                        # BigQuery bills at least 10 MB a query: a smaller cap would fail it
                        maximum_bytes_billed=max(left, MIN_BILLED),
                        job_timeout_ms=int(timeout_s * 1000),
                        labels={k: _label(v) for k, v in labels.items()},
                    ),
                    location=self.location,
                    retry=self._retry(),
                )
                try:
                    job.result(retry=self._retry(), timeout=timeout_s)
                except KeyboardInterrupt:
                    self._cancel(job)
                    raise
        except (BadRequest, Forbidden) as exc:
            reasons = {e.get("reason") for e in (exc.errors or [])}
            if "bytesBilledLimitExceeded" in reasons:
                raise BytesLimitError(
                    _over_limit(None, self.max_bytes_billed, self.billed)
                ) from exc
            raise AnalyzerError(f"BigQuery refused the query on {self.source}: {exc}") from exc
        except FuturesTimeout as exc:
            raise AnalyzerError(
                f"a BigQuery job on {self.source} ran past --job-timeout "
                f"({timeout_s:.0f} s) and was cancelled; raise --job-timeout or narrow --since"
            ) from exc
        billed = int(job.total_bytes_billed or 0)
        self.billed += billed
        self.jobs += 1
        self.report(
            f"bigquery: {question} billed {_gib(billed)} ({billed:,} bytes), slot time "
            f"{(job.slot_millis or 0) / 1000:,.1f} s; this run {_gib(self.billed)} of "
            f"{_gib(self.max_bytes_billed)}"
        )
        return job

    def _cancel(self, job: bigquery.QueryJob) -> None:
        """Ctrl-C while a job runs: ask BigQuery to stop it (a job it is finishing may still
        end), saying which, so nothing keeps running (and billing) unseen."""
        try:
            job.cancel(timeout=10)
        except Exception as exc:  # the interrupt is what the user is told about
            self.report(f"bigquery: could not cancel job {job.job_id}: {str(exc)[:200]}")
            return
        self.report(f"bigquery: asked BigQuery to cancel job {job.job_id} (bq show -j to see it)")

    def _arrow(
        self, job: bigquery.QueryJob, *, room: int | None = None, what: str = "the rows"
    ) -> pa.Table:
        """The job's rows, unless they are more than `room` (known before any is downloaded):
        then one line, before memory runs out."""
        with reaching(self.endpoint):
            rows = job.result(retry=self._retry())
            if room is not None and rows.total_rows is not None and rows.total_rows > room:
                held = self.max_rows - room
                raise AnalyzerError(
                    f"{what}: {rows.total_rows:,} rows, more than this machine holds "
                    f"({self.max_rows:,} rows a run{f', {held:,} held' if held else ''}: about "
                    f"{BYTES_PER_FETCHED_ROW:,} bytes a row, half its memory); narrow --since, "
                    "or run it on a machine with more memory"
                )
            return rows.to_arrow(create_bqstorage_client=self.storage_api)

    def _retry(self) -> Retry:
        return api_retry(self.endpoint, self.report)


def _has_vpc_change(
    con: duckdb.DuckDBPyConnection, env: str, before: datetime | None = None
) -> bool:
    """Whether the rows held of `env` have a VPC state change (before `before`); an env
    without a VPC has none."""
    (found,) = con.execute(
        "SELECT count(*) FROM fetched WHERE env = ? AND event = 'vpc_state_changed' "
        "AND vpc_state IS NOT NULL AND ts < coalesce(?::TIMESTAMPTZ, 'infinity'::TIMESTAMPTZ)",
        [env, before],
    ).fetchall()[0]
    return bool(found)


def _before(at: object) -> object:
    return at - timedelta(microseconds=1) if isinstance(at, datetime) else at


def _midnight(at: datetime, *, up: bool = False) -> datetime:
    """The UTC midnight at or before `at` (`up`: at or after it). BigQuery bills a day partition
    or a date shard whole when a scan reaches into it: fetches that start and end at midnight
    never bill one day twice."""
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(days=1) if up and day < at else day


def _reads_vpc_timeline(question: str) -> bool:
    """Whether `queries/<question>.sql` reads the VPC state timeline (_TIMELINE_VIEWS; the
    other views, events and startups, do not)."""
    from analyzer.lake.sql import load_sql

    text = re.sub(r"--[^\n]*", "", load_sql(question))
    return any(re.search(rf"\b{view}\b", text) for view in _TIMELINE_VIEWS)


def unreachable(exc: BaseException) -> str | None:
    """ "connection refused" or "unknown host" when that is what ended a call (no retry can
    help), else None."""
    seen: BaseException | None = exc
    for _ in range(32):  # a chain of causes, never a loop
        if seen is None:
            break
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "unknown host"
        seen = seen.__cause__ or seen.__context__
    return None


@contextmanager
def reaching(endpoint: str | None) -> Iterator[None]:
    """Turns a call that found nobody at `endpoint` into one line."""
    try:
        yield
    except Exception as exc:
        why = unreachable(exc)
        if why is None:
            raise
        raise AnalyzerError(
            f"cannot reach BigQuery at {endpoint or GOOGLE_ENDPOINT}: {why}; "
            "check --bq-endpoint and the network"
        ) from exc


def api_retry(endpoint: str | None, report: Callable[[str], None]) -> Retry:
    """The client's retry for one call, less what cannot pass (`unreachable`), saying on stderr
    what it waits for and for how long."""
    from google.api_core.retry import Retry
    from google.cloud.bigquery import retry as bigquery_retry

    # the predicate of the client's DEFAULT_RETRY (untyped there)
    should_retry: Callable[[Exception], bool] = bigquery_retry._should_retry

    started = time.monotonic()

    def on_error(exc: Exception) -> None:
        waited = time.monotonic() - started
        report(
            f"bigquery: {endpoint or GOOGLE_ENDPOINT} answered {type(exc).__name__}: "
            f"{str(exc)[:200]}; retrying ({waited:.0f} s of at most {RETRY_DEADLINE_S:.0f} s)"
        )

    return Retry(
        predicate=lambda exc: unreachable(exc) is None and should_retry(exc),
        timeout=RETRY_DEADLINE_S,
        on_error=on_error,
    )


def _over_limit(scanned: int | None, limit: int, billed: int) -> str:
    what = (
        f"would scan {_gib(scanned)} ({scanned:,} bytes)"
        if scanned is not None
        else ("would bill more")
    )
    spent = f" after {_gib(billed)} this run has billed" if billed else ""
    return (
        f"the query {what}{spent}, over the run's --max-bytes-billed {limit:,} "
        f"({_gib(limit)}); raise it (e.g. --max-bytes-billed 2TiB) or narrow --since"
    )


def _label(value: str) -> str:
    """A job label's value: lowercase letters, digits, `_` and `-`, at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "_", value.lower())[:63]


def _parameter(
    name: str, value: object
) -> bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter:
    from google.cloud import bigquery

    if isinstance(value, list | tuple):  # of names (the services asked for)
        return bigquery.ArrayQueryParameter(name, "STRING", [str(v) for v in value])
    if isinstance(value, datetime):
        kind = "TIMESTAMP"
    elif isinstance(value, bool):
        kind = "BOOL"
    elif isinstance(value, int):
        kind = "INT64"
    elif isinstance(value, float):
        kind = "FLOAT64"
    else:
        kind, value = "STRING", None if value is None else str(value)
    return bigquery.ScalarQueryParameter(name, kind, value)


def open_bigquery(
    *,
    source: str,
    shape: str | None = None,
    max_bytes_billed: int = DEFAULT_MAX_BYTES_BILLED,
    lookback: timedelta = DEFAULT_LOOKBACK,
    endpoint: str | None = None,
    anonymous: bool = False,
    attempt_rows: AttemptRows = "auto",
    env_services: tuple[str, ...] = (),
    billing_project: str | None = None,
    location: str | None = None,
    job_timeout: timedelta = DEFAULT_JOB_TIMEOUT,
    labels: Mapping[str, str] | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> BigQueryEngine:
    """The engine over `source`, its shape detected from its schema unless given; its jobs
    run (and bill) in `billing_project`, else the source's project, labelled app=analyzer
    and `labels` (the command, the env); `window`: the command's window, when known (over
    shape lake, fetched up front with the --lookback)."""
    from google.api_core.client_options import ClientOptions
    from google.api_core.exceptions import GoogleAPIError, NotFound
    from google.auth.exceptions import DefaultCredentialsError
    from google.cloud import bigquery

    check_table_id(source)
    project = billing_project or source.rsplit(".", 2)[0]
    options = ClientOptions(api_endpoint=endpoint) if endpoint else None
    try:
        if anonymous:
            from google.auth.credentials import AnonymousCredentials

            client = bigquery.Client(
                project=project,
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                client_options=options,
                location=location,
            )
        else:
            client = bigquery.Client(project=project, client_options=options, location=location)
    except DefaultCredentialsError as exc:
        raise AnalyzerError(
            "no Google credentials: run `gcloud auth application-default login` "
            "(or --anonymous against an emulator)"
        ) from exc

    def retry() -> Retry:
        return api_retry(endpoint, to_stderr)

    shard_ids: tuple[str, ...] = ()
    try:
        try:
            with reaching(endpoint):
                table = client.get_table(source, retry=retry())
            sharded = False
        except NotFound:
            prefix = source.rsplit(".", 1)[1] + "_"
            dataset = source.rsplit(".", 1)[0]
            with reaching(endpoint):
                listed = list(client.list_tables(dataset, retry=retry()))
            shards = sorted(t.table_id for t in listed if t.table_id.startswith(prefix))
            shards = [s for s in shards if s[len(prefix) :].isdigit() and len(s) == len(prefix) + 8]
            if not shards:
                raise AnalyzerError(
                    f"--source {source}: no such table or view, nor date shards {prefix}YYYYMMDD"
                ) from None
            shard_ids = tuple(f"{dataset}.{s}" for s in shards)
            with reaching(endpoint):
                table = client.get_table(shard_ids[-1], retry=retry())
            sharded = True
    except GoogleAPIError as exc:
        raise AnalyzerError(f"cannot read --source {source}: {exc}") from exc
    paths = schema_paths(table.schema)
    detected: Shape = (
        "lake"  # the lake's columns already (the materialised table)
        if {"startup_id", "phase", "payload"} <= paths
        else "log-analytics"
        if "json_payload" in paths or "insert_id" in paths
        else "sink"
    )
    if shape is not None and shape != detected:  # a sink's kind is read from it, not given
        raise AnalyzerError(
            f"--source {source} looks like a {detected} table, not --source-shape {shape}"
        )
    chosen: Shape = "sink-shards" if sharded else detected
    partitioning = None if sharded else table.time_partitioning
    if chosen == "sink" and partitioning is not None and partitioning.field is None:
        chosen = "sink-ingestion"  # pruned on _PARTITIONTIME, not on `timestamp`
    assert chosen in SHAPES
    engine = BigQueryEngine(
        client=client,
        source=source,
        shape=chosen,
        max_bytes_billed=max_bytes_billed,
        lookback=lookback,
        storage_api=endpoint is None,
        attempt_rows=attempt_rows,
        padding=sink_padding(paths) if chosen in ("sink", "sink-ingestion") else None,
        endpoint=endpoint,
        env_services=env_services,
        job_timeout=job_timeout,
        location=location,
        labels={"app": "analyzer", **(labels or {})},
        window=window,
    )
    if sharded:  # the newest shard's schema is read: its paths decided the shape
        engine.shard_ids, engine.shards = shard_ids, {shard_ids[-1]: paths}
    return engine
