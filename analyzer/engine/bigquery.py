"""The BigQuery engine: the questions of `queries/bigquery/` (GoogleSQL), answered where a Log
Router sink or Log Analytics already put the services' logs; only per-attempt numbers come back.

Every statement is dry-run first, its bytes printed to stderr and held to `max_bytes_billed`,
which every job also carries (BigQuery then refuses to bill more). Results come over the REST
API, or the Storage Read API (Arrow) where the client has it and the endpoint is Google's.
"""

from __future__ import annotations

import re
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import TimeoutError as FuturesTimeout
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from analyzer.engine import AttemptRows, QuestionNotAnswered
from analyzer.engine.bigquery_sql import (
    COUNT_VIEWS,
    SHAPES,
    WINDOW_VIEWS,
    Shape,
    Statement,
    bound,
    check_table_id,
    compose,
    schema_paths,
    sink_padding,
    type_paths,
    with_source,
)
from analyzer.errors import AnalyzerError, NoDataError

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa
    from google.api_core.retry import Retry
    from google.cloud import bigquery

# The questions the analysis asks (each a file of queries/bigquery/).
QUESTIONS = (
    "env_time_range",
    "env_overview",
    "service_startups",
    "phase_outcome_counts",
    "backtest_attempts",
    "report_timeline",
    "attempt_numbers",
    "revision_attempts",
    "blame_attempts",
    "vpc_timeline",
    "breaker_summaries",
    "config_loads",
    # the engine's own: the VPC state in force at a window's start, the envs in the source
    "vpc_state_before",
    "env_mix",
)
# The bytes one run may bill, all its queries together (--max-bytes-billed): 1.5 TiB ($9.38 on
# demand at $6.25 a TiB). The default weekly job, a table-format recommend over 28 days of an
# env at 100 million entries a week (286-406 bytes an entry read: 114-162 GiB a question over
# the 30 days its scan reads, 30-43 GiB over the 8-day --lookback), bills at most 6 window
# questions and 3 over the lookback: at most 1,102 GiB (docs/bigquery.md has the arithmetic);
# a run that would bill more stops before the query that would pass the budget.
DEFAULT_MAX_BYTES_BILLED = 1536 * 1024**3
# How long one query job may run (--job-timeout): BigQuery cancels it then (job_timeout_ms),
# and the engine stops waiting for it.
DEFAULT_JOB_TIMEOUT = timedelta(minutes=10)
# What a dry run's bytes say of the attempts behind them (for --attempt-rows auto): some 290
# bytes an entry read (benchmarks/bigquery_scan_bytes.py), three to four entries an attempt
# and the lines between them; rough, on the side of counting early.
BYTES_PER_ATTEMPT = 1_000
MIN_BILLED = 10 * 1024**2
NO_PRIOR = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_LOOKBACK = timedelta(days=8)  # questions with no window of their own read this far back
# A windowed question reads its source from a day before the window to a day after it (an
# attempt that started inside may end after it; a phase lasts at most a day, as the importer
# checks), and the VPC state change in force at the scan's start, however far back within
# --lookback (vpc_state_before.sql).
SCAN_MARGIN = timedelta(days=1)
# How long one BigQuery call keeps retrying what may pass (a 5xx, a rate limit, a dropped
# connection): the client's own ten minutes, each retry a line on stderr. A refused connection
# or a host that does not resolve is not retried: nothing there will answer.
RETRY_DEADLINE_S = 600.0
GOOGLE_ENDPOINT = "https://bigquery.googleapis.com"


class MixedEnvsError(AnalyzerError):
    """The source holds several envs and some entries say none (exit code 1, as bad input)."""


class BytesLimitError(AnalyzerError):
    """A query would scan more than --max-bytes-billed allows (exit code 1, as bad input)."""


def to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _gib(n: int) -> str:
    return f"{n / 1024**3:,.2f} GiB"


@dataclass
class BigQueryEngine:
    """Answers questions over one BigQuery table or view (`source`: PROJECT.DATASET.TABLE)."""

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
    # shape sink-shards: each shard's table id to its leaf paths (INFORMATION_SCHEMA.COLUMNS)
    shards: dict[str, set[str]] = field(default_factory=dict)
    # (env, scan start) -> the VPC state change in force then: (insert id, time), or None
    _prior: dict[tuple[str, datetime], tuple[str, datetime] | None] = field(
        default_factory=dict, repr=False
    )
    # the --env's services where the source holds several envs (--source-services)
    env_services: tuple[str, ...] = ()
    _envs_checked: set[str] = field(default_factory=set, repr=False)

    @property
    def where(self) -> str:
        return f"BigQuery {self.source} ({self.shape})"

    def no_data_error(self, env: str) -> NoDataError:
        return NoDataError(
            f"no telemetry for env {env!r} in {self.where} over the last {self.lookback.days} "
            "days; check --source (a table of the services' stdout), or widen --lookback"
        )

    def _check_answers(self, question: str) -> None:
        from analyzer.lake.sql import queries_dir

        if not (queries_dir() / "bigquery" / f"{question}.sql").is_file():
            raise QuestionNotAnswered(f"{self.where}: no GoogleSQL version of {question!r} yet")

    def rows(
        self, question: str, params: Mapping[str, object] | None = None
    ) -> list[dict[str, object]]:
        self._check_answers(question)
        job = self._run(self._compose(question, params), params)
        with reaching(self.endpoint):
            return [dict(row.items()) for row in job.result(retry=self._retry())]

    def frame(self, question: str, params: Mapping[str, object] | None = None) -> pl.DataFrame:
        import polars as pl

        self._check_answers(question)
        job = self._run(self._compose(question, params), params)
        frame = pl.from_arrow(self._arrow(job))
        assert isinstance(frame, pl.DataFrame)
        return frame

    def attempt_columns(
        self, params: Mapping[str, object]
    ) -> tuple[list[tuple[Any, ...]], dict[str, np.ndarray]]:
        """The window's attempts in one query (attempt_numbers.sql): each row carries its
        group's key, cut out here into the keys the local engine returns."""
        statement = self._compose("attempt_numbers", params, WINDOW_VIEWS)
        table = self._arrow(self._run(statement, params))
        return _group_keys(table), _numbers(table, ("started_s", "ended_s"))

    def attempt_counts(
        self, params: Mapping[str, object]
    ) -> tuple[list[tuple[Any, ...]], dict[str, np.ndarray]]:
        """The window's attempts counted per distinct duration in BigQuery
        (attempt_counts.sql), keyed as `attempt_columns`."""
        table = self._arrow(self._run(self._counts_statement(params), params))
        columns = _numbers(table, ("day_s", "last_started_s", "last_ended_s"))
        columns["counted"] = np.asarray(table.column("counted").to_numpy(), dtype=np.int64)
        return _group_keys(table), columns

    def attempt_total(self, params: Mapping[str, object]) -> int:
        """From the dry run of attempt_counts: its bytes over BYTES_PER_ATTEMPT (no rows are
        read; the emulator's dry runs say 0)."""
        return self._dry_run(self._counts_statement(params), params) // BYTES_PER_ATTEMPT

    def _counts_statement(self, params: Mapping[str, object]) -> Statement:
        return self._compose("attempt_counts", params, COUNT_VIEWS)

    def _compose(
        self,
        question: str,
        params: Mapping[str, object] | None,
        extra_views: tuple[tuple[str, str], ...] = (),
    ) -> Statement:
        """The question's statement; over date shards, those of the scan window, each with its
        own columns."""
        shards = None
        if self.shape == "sink-shards":
            values = self._values(params)
            first, last, prior = (
                f"{value:%Y%m%d}" if isinstance(value, datetime) else ""
                for value in (values["scan_start"], values["scan_end"], values["prior_ts"])
            )
            shards = {
                t: p for t, p in self.shards.items() if first <= t[-8:] <= last or t[-8:] == prior
            }
        return compose(
            question,
            shape=self.shape,
            extra_views=extra_views,
            padding=self.padding,
            shards=shards,
        )

    def read_shard_schemas(self) -> None:
        """Each date shard's columns, from its dataset's INFORMATION_SCHEMA.COLUMNS (one small
        query): a sink adds a payload field to a day's shard only when an entry of that day
        first carries it, so the shards' schemas differ."""
        dataset, prefix = self.source.rsplit(".", 1)
        statement = Statement(
            sql=(
                "-- analyzer: the date shards' columns\n"
                f"SELECT table_name, column_name, data_type\n"
                f"FROM `{dataset}.INFORMATION_SCHEMA.COLUMNS`\n"
                "WHERE STARTS_WITH(table_name, @shard_prefix)"
            ),
            parameters=("shard_prefix",),
        )
        job = self._run(statement, {"shard_prefix": f"{prefix}_"})
        shards: dict[str, set[str]] = {}
        with reaching(self.endpoint):
            for row in job.result(retry=self._retry()):
                suffix = str(row["table_name"])[len(prefix) + 1 :]
                if len(suffix) == 8 and suffix.isdigit():
                    paths = type_paths(str(row["column_name"]), str(row["data_type"]))
                    shards.setdefault(f"{dataset}.{row['table_name']}", set()).update(paths)
        self.shards = shards

    # -- running a statement ------------------------------------------------------------

    def _values(self, params: Mapping[str, object] | None) -> dict[str, object]:
        values = dict(params or {})
        own = values.pop("own", False)  # the engine's own small queries
        env = values.get("env")
        if env is not None:
            values.setdefault("default_env", env)
        values["env_services"] = list(self.env_services)
        start, end = values.get("start"), values.get("end")
        # no state change before the scan: a time and an id no entry has (a NULL parameter
        # would do in BigQuery, but the emulator mistypes it inside a function)
        values["prior_insert_id"], values["prior_ts"] = "", NO_PRIOR
        if env is not None and not own:
            self._check_envs(str(env), values)
        if isinstance(start, datetime) and isinstance(end, datetime):
            values["scan_start"], values["scan_end"] = start - SCAN_MARGIN, end + SCAN_MARGIN
            if env is not None and not own:
                prior = self._state_before(str(env), start - SCAN_MARGIN)
                if prior is not None:
                    values["prior_insert_id"], values["prior_ts"] = prior
        else:
            now = self.now()
            values["scan_start"], values["scan_end"] = now - self.lookback, now + SCAN_MARGIN
        return values

    def _check_envs(self, env: str, values: Mapping[str, object]) -> None:
        """Refuses (once a run for each env) a source where entries naming envs sit beside
        text lines that say none: a sink table may hold several envs, and counted as `env`
        those lines could mix them (env_mix.sql, over the question's window, else
        --lookback). --source-services attributes them; a table of text lines only is one
        env's, as an imported file is."""
        if env in self._envs_checked:
            return
        self._envs_checked.add(env)
        window = {k: values[k] for k in ("start", "end") if k in values}
        found = self.rows("env_mix", {"own": True, "env": env, **window})
        named: dict[str, int] = {}
        unsaid: dict[str, int] = {}
        for row in found:
            name, entries = row["env"], int(str(row["entries"]))
            if name is None:
                continue
            if row["form"] == "structured":
                named[str(name)] = named.get(str(name), 0) + entries
            elif not self.env_services:
                unsaid[str(row["service"])] = unsaid.get(str(row["service"]), 0) + entries
        if named and unsaid:
            envs = ", ".join(f"{name}: {n:,}" for name, n in sorted(named.items()))
            services = ", ".join(sorted(unsaid))
            raise MixedEnvsError(
                f"{self.source} holds {sum(unsaid.values()):,} text lines that say no env "
                f"(services {services}) beside entries naming envs ({envs}): counted as {env} "
                f"they may mix envs; name {env}'s services with --source-services "
                "(source-services in analyzer.toml), or give each env a sink of its own"
            )

    def _state_before(self, env: str, scan_start: datetime) -> tuple[str, datetime] | None:
        """The env's last VPC state change before `scan_start`, within --lookback before it
        (vpc_state_before.sql, once a run for each env and scan): the state in force when the
        scan starts, however long it has been in force."""
        key = (env, scan_start)
        if key not in self._prior:
            params = {
                "own": True,
                "env": env,
                "before": scan_start,
                "start": scan_start - self.lookback + SCAN_MARGIN,
                "end": scan_start - SCAN_MARGIN,
            }
            found = self.rows("vpc_state_before", params)
            began = found[0]["ts"] if found else None
            self._prior[key] = None
            if isinstance(began, datetime):
                self._prior[key] = (str(found[0]["insert_id"]), began)
                self.report(
                    f"bigquery: the VPC state in force at {scan_start:%Y-%m-%d %H:%M} UTC began "
                    f"{began:%Y-%m-%d %H:%M:%S} UTC"
                )
        return self._prior[key]

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
                job.result(retry=self._retry(), timeout=timeout_s)
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
        self.report(
            f"bigquery: {question} billed {_gib(billed)} ({billed:,} bytes), slot time "
            f"{(job.slot_millis or 0) / 1000:,.1f} s; this run {_gib(self.billed)} of "
            f"{_gib(self.max_bytes_billed)}"
        )
        return job

    def _arrow(self, job: bigquery.QueryJob) -> pa.Table:
        with reaching(self.endpoint):
            rows = job.result(retry=self._retry())
            return rows.to_arrow(create_bqstorage_client=self.storage_api)

    def _retry(self) -> Retry:
        return api_retry(self.endpoint, self.report)


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


def _group_keys(table: pa.Table) -> list[tuple[Any, ...]]:
    """The group keys (gid, service, phase, operation, vpc_state, attempts) that each row
    carries, once a group, in group order."""
    gid = np.asarray(table.column("gid").to_numpy(), dtype=np.int64)
    keys: list[tuple[Any, ...]] = []
    if gid.size:
        first = np.unique(gid, return_index=True)[1]
        service, phase = table.column("service"), table.column("phase")
        operation, state = table.column("operation"), table.column("vpc_state")
        attempts = table.column("attempts")
        for g, at in zip(gid[first], first, strict=True):
            i = int(at)
            keys.append(
                (
                    int(g),
                    service[i].as_py(),
                    phase[i].as_py(),
                    operation[i].as_py(),
                    state[i].as_py(),
                    attempts[i].as_py(),
                )
            )
    return keys


def _numbers(table: pa.Table, times: tuple[str, ...]) -> dict[str, np.ndarray]:
    """gid, duration_s, observed, timeout_s and the `times` columns as numpy arrays."""
    columns = {"gid": np.asarray(table.column("gid").to_numpy(), dtype=np.int64)}
    for name in (*times, "duration_s", "timeout_s"):
        columns[name] = table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
    columns["observed"] = np.asarray(
        table.column("observed").to_numpy(zero_copy_only=False), dtype=bool
    )
    return columns


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
) -> BigQueryEngine:
    """The engine over `source`, its shape detected from its schema unless given; its jobs
    run (and bill) in `billing_project`, else the source's project, labelled app=analyzer
    and `labels` (the command, the env)."""
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
            with reaching(endpoint):
                table = client.get_table(f"{dataset}.{shards[-1]}", retry=retry())
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
    )
    if sharded:
        engine.read_shard_schemas()
    return engine
