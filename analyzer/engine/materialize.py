"""The materialised table: one env's telemetry events in the lake's columns, kept in BigQuery by
a MERGE of the whole UTC days it does not hold yet (`analyze bigquery materialize`), or by a
daily scheduled query; every command then reads it as a `--source` of shape `lake`.

Events, not attempts: each row depends on its own entry only, so a day's rows are exact
whatever day its attempts end (no attempt is cut at midnight), each raw day is read once, a
re-delivered entry is dropped by its insert id, and every command answers over the table with
the lake's own SQL.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from analyzer.engine.bigquery import MixedEnvsError, api_retry, reaching
from analyzer.engine.bigquery_sql import (
    LAKE_COLUMNS,
    Statement,
    bigquery_sql,
    check_table_id,
    with_source,
)
from analyzer.errors import AnalyzerError
from analyzer.lake.store import check_env_name

if TYPE_CHECKING:
    from google.cloud import bigquery

    from analyzer.engine.bigquery import BigQueryEngine

# How far back a first fill reads (and the dest's last day is looked for): the default weekly
# recommend's 28 days, its 1-day margin and its 8-day --lookback before them.
FIRST_FILL = timedelta(days=35)
DEST_PLACEHOLDER = "`materialized_table`"
ROWS_PLACEHOLDER = "(materialize_rows)"
# The scheduled query's own days: yesterday, midnight to midnight UTC, from its @run_time.
SCHEDULED_DAY = {
    "scan_start": "TIMESTAMP_SUB(TIMESTAMP_TRUNC(@run_time, DAY), INTERVAL 1 DAY)",
    "scan_end": "TIMESTAMP_TRUNC(@run_time, DAY)",
}
SCHEDULE = "every day 03:00"  # UTC: three hours for late deliveries of yesterday's entries
# The command reads a day once it ended this long ago, as the scheduled query does (03:00): a
# day it read is not read again unless --since asks, so entries delivered late would be lost.
SETTLE = timedelta(hours=3)
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # an env or service as a SQL string literal
_PARAMETER = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
# materialize_rows' refusals
_MIXED = "analyzer: text lines that say no env beside entries naming envs"
_UNSAID = "analyzer: entries that say no env, several envs asked"
# BigQuery's legacy type names, as a table's schema reports them
_TYPE_NAMES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}


@dataclass(frozen=True)
class Materialized:
    """What one `materialize` did: the days it read (none when the dest was current) and the
    rows it added."""

    source: str
    dest: str
    envs: tuple[str, ...]
    first_day: date | None
    last_day: date | None
    rows_added: int
    created: bool


@dataclass(frozen=True)
class ScheduledQuery:
    """The MERGE of yesterday that keeps the dest current, and the `bq` line that schedules it
    (its SQL read from `file`)."""

    sql: str
    file: str
    bq_command: str


def _midnight(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def envs_asked(text: str) -> tuple[str, ...]:
    """`--env`: one env, or several comma-separated (materialised in one pass)."""
    envs = tuple(dict.fromkeys(name.strip().lower() for name in text.split(",") if name.strip()))
    if not envs:
        raise AnalyzerError(f"invalid --env {text!r}: give an env, or several comma-separated")
    for env in envs:
        check_env_name(env)
    return envs


def open_source(
    *,
    source: str | None,
    envs: Sequence[str],
    services: str | None,
    max_bytes_billed: int,
    job_timeout: timedelta,
    endpoint: str | None = None,
    anonymous: bool = False,
    billing_project: str | None = None,
    location: str | None = None,
) -> BigQueryEngine:
    """The engine over the raw `source` a materialise reads, its jobs labelled
    command=materialize and the envs; `services` (comma-separated): the env's, where the source
    holds several envs (--source-services)."""
    from analyzer.engine import _require_bigquery_extra

    if not source:
        raise AnalyzerError(
            "materialize needs --source PROJECT.DATASET.TABLE (the raw Log Router sink table, "
            "or _AllLogs of a Log Analytics linked dataset)"
        )
    _require_bigquery_extra()
    from analyzer.engine.bigquery import open_bigquery

    return open_bigquery(
        source=source,
        max_bytes_billed=max_bytes_billed,
        endpoint=endpoint,
        anonymous=anonymous,
        env_services=tuple(n.strip() for n in (services or "").split(",") if n.strip()),
        billing_project=billing_project,
        location=location,
        job_timeout=job_timeout,
        labels={"command": "materialize", "env": ",".join(envs)},
    )


def materialize(
    engine: BigQueryEngine, *, dest: str, envs: Sequence[str], since: datetime | None = None
) -> Materialized:
    """Adds to `dest` (made if missing) the telemetry of `envs` over the whole UTC days it
    lacks, read from the engine's source once for them all: from `since`'s day when given,
    else from the day after the earliest of the envs' last days in `dest` (within FIRST_FILL;
    an env with none: FIRST_FILL back); to the last midnight UTC at least SETTLE ago (a day
    just ended waits for its late deliveries), in one MERGE (a rerun adds nothing)."""
    asked = _check_pair(engine, dest, envs)
    named = ",".join(asked)
    created = _ensure_dest(engine, dest)
    today = _midnight(engine.now() - SETTLE)
    unheld: tuple[str, ...] = ()  # the envs a resume found nothing of
    if since is not None:
        first = _midnight(since)
    else:
        first, unheld = _resume_day(engine, dest, asked, today)
    if first >= today:
        settled = f"the last day that ended {SETTLE.seconds // 3600} hours ago or more"
        held = f"{today - timedelta(days=1):%Y-%m-%d}"
        engine.report(
            f"materialize: --since is after {held}, {settled}: no whole day to read"
            if since is not None
            else f"materialize: {dest} holds {named} up to {held} (UTC), {settled}: nothing to add"
        )
        return Materialized(engine.source, dest, asked, None, None, 0, created)
    days = (today - first).days
    engine.report(
        f"materialize: reading {first:%Y-%m-%d} to {today - timedelta(days=1):%Y-%m-%d} "
        f"({days} day{'s' * (days != 1)}) of {named} from {engine.source} into {dest}"
    )
    values = _values(engine, asked, first, today)
    try:
        job = engine._run(merge_statement(_rows(engine, values), dest), values)
    except AnalyzerError as exc:
        refused = _refusal(engine, asked, exc)
        if refused is None:
            raise
        raise refused from exc
    added = int(job.num_dml_affected_rows or 0)
    engine.report(f"materialize: {added:,} rows added to {dest}")
    if unheld:
        _warn_unheld(engine, dest, asked, unheld, today, added)
    last = (today - timedelta(days=1)).date()
    return Materialized(engine.source, dest, asked, first.date(), last, added, created)


def _check_pair(engine: BigQueryEngine, dest: str, envs: Sequence[str]) -> tuple[str, ...]:
    """The envs asked, checked with the tables."""
    try:
        check_table_id(dest)
    except AnalyzerError:
        raise AnalyzerError(
            f"invalid --dest {dest!r}: give PROJECT.DATASET.TABLE (e.g. my-project.analyzer.events)"
        ) from None
    asked = envs_asked(",".join(envs))
    if len(asked) > 1 and engine.env_services:
        raise AnalyzerError(
            "--source-services names one env's services: give one --env with it (each env "
            "of a table whose lines say no env is materialised on its own)"
        )
    if dest.replace(":", ".") == engine.source.replace(":", "."):
        raise AnalyzerError(
            f"--dest {dest} is the --source: give the raw sink table or _AllLogs as --source "
            "(a project file's `source` may name the materialised table for the other commands)"
        )
    if engine.shape == "lake":
        raise AnalyzerError(
            f"--source {engine.source} holds the lake's columns already (a materialised "
            "table): give the raw sink table or _AllLogs as --source"
        )
    bad = [name for name in engine.env_services if not _NAME.fullmatch(name)]
    if bad:
        raise AnalyzerError(f"invalid --source-services name {bad[0]!r}")
    return asked


def _values(
    engine: BigQueryEngine, envs: tuple[str, ...], start: datetime, end: datetime
) -> dict[str, object]:
    """The parameters of the MERGE over [start, end): the scan reads those days and no entry
    before them (no VPC state before: each row stands on its own). Several envs: no default
    env (an entry naming none is refused)."""
    return {
        "envs": list(envs),
        "default_env": envs[0] if len(envs) == 1 else "",
        "env_services": list(engine.env_services),
        "scan_start": start,
        "scan_end": end,
    }


def merge_statement(rows: Statement, dest: str) -> Statement:
    """materialize_merge.sql into `dest`, over `rows` (materialize_rows.sql as composed on the
    source: `_rows`)."""
    select = rows.sql.split("\n", 1)[1]  # less its `-- analyzer:` line
    merge = bigquery_sql("materialize_merge").replace(ROWS_PLACEHOLDER, f"(\n{select}\n)")
    sql = "-- analyzer: materialize\n" + merge.replace(DEST_PLACEHOLDER, f"`{dest}`")
    return Statement(sql=sql, parameters=tuple(sorted(set(_PARAMETER.findall(sql)))))


def last_day_statement(dest: str) -> Statement:
    """materialize_last_day.sql over `dest`."""
    sql = "-- analyzer: materialize_last_day\n" + bigquery_sql("materialize_last_day")
    return Statement(
        sql=sql.replace(DEST_PLACEHOLDER, f"`{dest}`"),
        parameters=("envs", "scan_end", "scan_start"),
    )


def _rows(engine: BigQueryEngine, values: dict[str, object]) -> Statement:
    """materialize_rows.sql composed on the engine's source for `values`' days. The engine's
    own composition (its shape's scan, padding and shards) and runner (`_run`: the dry run
    held to the run's budget, the job timeout, location and labels, the bytes billed printed)
    serve the materialise's statements as they serve its fetch."""
    end = values["scan_end"]
    assert isinstance(end, datetime)
    # over date shards: the shards of the days only (the scan's end is midnight, exclusive)
    return engine._compose(
        "materialize_rows", {**values, "scan_end": end - timedelta(microseconds=1)}
    )


def _held_last(
    engine: BigQueryEngine, dest: str, envs: Sequence[str], today: datetime
) -> dict[str, datetime]:
    """Each env's last entry time in `dest` within FIRST_FILL before `today` (an env it holds
    nothing of: absent)."""
    start = today - FIRST_FILL
    values = {"envs": list(envs), "scan_start": start, "scan_end": today}
    job = engine._run(last_day_statement(dest), values)
    retry = api_retry(engine.endpoint, engine.report)
    with reaching(engine.endpoint):
        found = {row["env"]: row["last_ts"] for row in job.result(retry=retry)}
    return {env: last for env, last in found.items() if isinstance(last, datetime)}


def _resume_day(
    engine: BigQueryEngine, dest: str, envs: tuple[str, ...], today: datetime
) -> tuple[datetime, tuple[str, ...]]:
    """The day after the earliest of the envs' last days in `dest` (within FIRST_FILL); an env
    it holds nothing of: the first fill's first day. And the envs it holds nothing of."""
    start = today - FIRST_FILL
    found = _held_last(engine, dest, envs, today)
    first = today
    for env in envs:
        if env in found:
            engine.report(f"materialize: {dest} holds {env} up to {found[env]:%Y-%m-%d}")
            first = min(first, _midnight(found[env]) + timedelta(days=1))
        else:
            engine.report(f"materialize: {dest} holds nothing of {env} since {start:%Y-%m-%d}")
    unheld = tuple(env for env in envs if env not in found)
    return (start if unheld else first), unheld


def _warn_unheld(
    engine: BigQueryEngine,
    dest: str,
    asked: tuple[str, ...],
    unheld: tuple[str, ...],
    today: datetime,
    added: int,
) -> None:
    """Says which of the envs `dest` held nothing of the source had no entry of either, over
    the first fill's days (a misspelt env, or one quiet that long): each run reads those days
    again until one is held. No row added, or one env asked, says it; else the last-day look
    again (a small query)."""
    if added == 0 or len(asked) == 1:
        empty = unheld if added == 0 else ()
    else:
        found = _held_last(engine, dest, unheld, today)
        empty = tuple(env for env in unheld if env not in found)
    if empty:
        engine.report(
            f"materialize: warning: no entry of {', '.join(empty)} in {engine.source} since "
            f"{today - FIRST_FILL:%Y-%m-%d} (is the env's name right? the entries name it "
            "in their payload's env); each run reads those days again until one is held"
        )


def _ensure_dest(engine: BigQueryEngine, dest: str) -> bool:
    """Makes `dest` (the lake's columns, partitioned by DATE(ts), clustered by env and service,
    a partition filter required) if missing, else checks it is such a table. True if made."""
    from google.api_core.exceptions import GoogleAPIError, NotFound
    from google.cloud import bigquery

    retry = api_retry(engine.endpoint, engine.report)
    dataset = dest.rsplit(".", 1)[0]
    try:
        with reaching(engine.endpoint):
            try:
                _check_dest(dest, engine.client.get_table(dest, retry=retry))
                return False
            except NotFound:
                pass
            try:
                engine.client.get_dataset(dataset, retry=retry)
            except NotFound:
                raise AnalyzerError(
                    f"--dest {dest}: no dataset {dataset}; make it first, in the --source's "
                    f"location (bq mk --dataset {dataset.replace('.', ':', 1)})"
                ) from None
            table = bigquery.Table(
                dest, schema=[bigquery.SchemaField(name, kind) for name, kind in LAKE_COLUMNS]
            )
            table.time_partitioning = bigquery.TimePartitioning(field="ts", type_="DAY")
            table.clustering_fields = ["env", "service"]
            table.require_partition_filter = True
            table.description = (
                "Telemetry events in the lake's columns, kept by `analyze bigquery materialize`"
            )
            engine.report(
                f"materialize: making {dest} (partitioned by DATE(ts), clustered by env, "
                "service; a partition filter required)"
            )
            engine.client.create_table(table, retry=retry)
            return True
    except GoogleAPIError as exc:
        raise AnalyzerError(f"cannot make --dest {dest}: {exc}") from exc


def _check_dest(dest: str, table: bigquery.Table) -> None:
    columns = [(f.name, _TYPE_NAMES.get(f.field_type, f.field_type)) for f in table.schema]
    partitioning = table.time_partitioning
    if columns != list(LAKE_COLUMNS) or partitioning is None or partitioning.field != "ts":
        raise AnalyzerError(
            f"--dest {dest} exists and is not a materialised table (the lake's columns, "
            "partitioned on ts): give a new table's name, or that of one this command made"
        )


def _refusal(
    engine: BigQueryEngine, envs: tuple[str, ...], exc: AnalyzerError
) -> MixedEnvsError | None:
    """materialize_rows' refusal of a source that may mix envs, said as the engine says it."""
    if _MIXED in str(exc):
        return MixedEnvsError(
            f"{engine.source} holds text lines that say no env beside entries naming envs: "
            f"counted as {envs[0]} they may mix envs; name {envs[0]}'s services with "
            "--source-services (source-services in analyzer.toml), or give each env a sink of "
            "its own"
        )
    if _UNSAID in str(exc):
        return MixedEnvsError(
            f"{engine.source} holds entries that say no env (text lines, or events without "
            f"env): with several envs asked ({', '.join(envs)}) they cannot be told apart; "
            "materialise each env on its own (with --source-services where the table holds "
            "several)"
        )
    return None


def scheduled_query(engine: BigQueryEngine, *, dest: str, envs: Sequence[str]) -> ScheduledQuery:
    """The MERGE of yesterday's UTC day (from the BigQuery Data Transfer Service's @run_time)
    that keeps `dest` current, the run's values written into it, and the `bq mk` line that
    schedules it daily."""
    asked = _check_pair(engine, dest, envs)
    if engine.shape == "sink-shards":
        raise AnalyzerError(
            f"--source {engine.source} is date-sharded: a scheduled query cannot name the "
            "day's shard with its own columns; run `analyze bigquery materialize` daily "
            "instead (it reads each shard's columns), or make the sink write a partitioned "
            "table (--use-partitioned-tables)"
        )
    if engine.padding is not None:
        engine.report(
            f"materialize: {engine.source} lacks payload fields no entry has carried yet; the "
            "printed SQL reads them as NULL: print it again once they appear, or run "
            "`analyze bigquery materialize` daily instead (it reads the schema each run)"
        )
    any_day = datetime(2000, 1, 1, tzinfo=UTC)  # composing needs days; the SQL's come below
    values = _values(engine, asked, any_day, any_day)
    statement = merge_statement(_rows(engine, values), dest)
    literals = {
        **SCHEDULED_DAY,
        "envs": _strings(asked),
        "default_env": f"'{values['default_env']}'",
        "env_services": _strings(engine.env_services),
    }
    missing = sorted(set(statement.parameters) - set(literals))
    assert not missing, f"materialize parameters without a scheduled value: {missing}"
    body = _PARAMETER.sub(lambda m: literals[m[1]], statement.sql.split("\n", 1)[1])
    body = with_source(body, engine.source)
    named = ",".join(asked)
    file = f"materialize-{'-'.join(asked)}.sql"
    project = (engine.client.project or dest.split(".")[0]).replace("'", "")
    # --location is one of bq's global flags: before the command. Always given: a transfer
    # config made without it is made in the US, where a query of an EU dataset fails.
    location = f" --location={shlex.quote(_location(engine))}"
    name = shlex.quote(f"analyzer materialize {named}")
    bq = (
        f"bq{location} mk --transfer_config --project_id={shlex.quote(project)} "
        f"--data_source=scheduled_query --display_name={name} "
        f"--schedule={shlex.quote(SCHEDULE)} "
        f"--params=\"$(jq -n --rawfile query {file} '{{query: $query}}')\""
    )
    head = (
        f"-- analyzer: materialize, scheduled: yesterday's UTC day of {named} from "
        f"{engine.source} into {dest}\n-- schedule it ({SCHEDULE} UTC) with this file saved "
        f"as {file}:\n--   {bq}\n"
    )
    return ScheduledQuery(sql=head + body, file=file, bq_command=bq)


def _location(engine: BigQueryEngine) -> str:
    """Where the scheduled query must run: --location, else the source dataset's location."""
    from google.api_core.exceptions import GoogleAPIError

    if engine.location:
        return engine.location
    dataset = engine.source.rsplit(".", 1)[0]
    try:
        with reaching(engine.endpoint):
            found = engine.client.get_dataset(
                dataset, retry=api_retry(engine.endpoint, engine.report)
            )
    except GoogleAPIError as exc:
        raise AnalyzerError(
            f"cannot read the location of {dataset}: {exc}; give --location"
        ) from exc
    if not found.location:
        raise AnalyzerError(f"{dataset} says no location: give --location")
    return str(found.location)


def _strings(names: Sequence[str]) -> str:
    """Checked names (envs, services) as a GoogleSQL ARRAY<STRING> literal."""
    return "ARRAY<STRING>[" + ", ".join(f"'{name}'" for name in names) + "]"
