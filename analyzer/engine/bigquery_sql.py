"""The GoogleSQL the BigQuery engine sends: a statement of `queries/bigquery/` with the views it
reads as its WITH clause (BigQuery has no temporary views a read-only user may make).

A statement reads views by name (`telemetry_rows`, `events`, ...); here the views are the
statement's WITH clause, in dependency order, and only those it reads: the scan of the source
table (`*_rows.sql`, filtered on its partition or shard column), the mapping of its shape to the
LogEntry fields (`*_entry_fields.sql`), then the lake's columns (`lake_rows`, `events`,
`telemetry_rows`). The engine sends one, fetch_rows.sql; the questions are answered from its
rows by the lake's own queries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from analyzer.errors import AnalyzerError
from analyzer.lake.sql import load_sql

# a sink table partitioned on `timestamp`, or by ingestion time (`_PARTITIONTIME`), or date
# shards; Log Analytics' `_AllLogs`; a table that already holds the lake's columns
# (LAKE_COLUMNS: the materialised table)
Shape = Literal["sink", "sink-ingestion", "sink-shards", "log-analytics", "lake"]
SHAPES: tuple[Shape, ...] = ("sink", "sink-ingestion", "sink-shards", "log-analytics", "lake")
# The columns of telemetry_rows.sql, what every shape's rows become (the lake's columns less
# the importer's source_file, ingested_at and date), with their BigQuery types: the schema of
# a table of shape `lake` (partitioned by DATE(ts), clustered by env, service).
LAKE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("insert_id", "STRING"),
    ("ts", "TIMESTAMP"),
    ("receive_ts", "TIMESTAMP"),
    ("env", "STRING"),
    ("service", "STRING"),
    ("revision", "STRING"),
    ("instance_id", "STRING"),
    ("startup_id", "STRING"),
    ("event", "STRING"),
    ("phase", "INT64"),
    ("phase_name", "STRING"),
    ("operation", "STRING"),
    ("outcome", "STRING"),
    ("vpc_state", "STRING"),
    ("breaker_state", "STRING"),
    ("from_state", "STRING"),
    ("to_state", "STRING"),
    ("error_type", "STRING"),
    ("error", "STRING"),
    ("severity", "STRING"),
    ("message", "STRING"),
    ("duration_s", "FLOAT64"),
    ("timeout_s", "FLOAT64"),
    ("vpc_utilization", "FLOAT64"),
    ("exit_code", "INT64"),
    ("form", "STRING"),
    ("log_name", "STRING"),
    ("payload", "STRING"),
)

# Each shape's scan and mapping, then the views every shape shares, in dependency order.
_SHAPE_VIEWS: dict[Shape, tuple[tuple[str, str], ...]] = {
    "sink": (("sink_rows", "sink_table_rows"), ("entry_fields", "sink_entry_fields")),
    "sink-ingestion": (
        ("sink_rows", "sink_ingestion_rows"),
        ("entry_fields", "sink_entry_fields"),
    ),
    "sink-shards": (("sink_rows", "sink_shard_rows"), ("entry_fields", "sink_entry_fields")),
    "log-analytics": (
        ("log_analytics_rows", "log_analytics_rows"),
        ("entry_fields", "log_analytics_entry_fields"),
    ),
    # its rows are telemetry_rows already: the scan is all there is
    "lake": (("telemetry_rows", "lake_table_rows"),),
}
_SHARED_VIEWS = (
    ("lake_rows", "lake_rows"),
    ("events", "events"),
    ("telemetry_rows", "telemetry_rows"),
)
# What the SQL calls the source: an identifier cannot be a bound parameter, so the engine puts
# the checked table name in its place.
SOURCE_PLACEHOLDERS = ("`sink_table`", "`log_analytics_table`", "`lake_table`")
_TABLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*\.[A-Za-z0-9_]+\.[A-Za-z0-9_$-]+")
_PARAMETER = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
_COMMENT = re.compile(r"--[^\n]*")
_COMMENT_LINE = re.compile(r"^\s*--[^\n]*\n?", re.MULTILINE)


def bigquery_sql(name: str) -> str:
    """The code of `queries/bigquery/<name>.sql`, without its comment lines: they are for the
    reader (and the emulator would take an `@name` in one for a parameter)."""
    return _COMMENT_LINE.sub("", load_sql(f"bigquery/{name}")).strip()


def _reads(sql: str, view: str) -> bool:
    return re.search(rf"(?<![\w.`]){re.escape(view)}(?![\w`])", _COMMENT.sub("", sql)) is not None


@dataclass(frozen=True)
class Statement:
    """One question as sent: its GoogleSQL and the parameters it binds."""

    sql: str
    parameters: tuple[str, ...]


def compose(
    question: str,
    *,
    shape: Shape,
    extra_views: Iterable[tuple[str, str]] = (),
    padding: str | None = None,
    shards: Mapping[str, set[str]] | None = None,
) -> Statement:
    """`queries/bigquery/<question>.sql` with the views it reads as its WITH clause.

    `padding`, when given, is a SELECT over `sink_scan` that adds the payload fields a sink
    table lacks (as NULLs): a sink's schema holds only the fields its entries ever had.
    `shards` (shape sink-shards): the shards in the scan window, each table's id to its leaf
    paths; each is read with its own columns (`shard_rows`)."""
    own = _SHAPE_VIEWS[shape]
    views = [*own, *(v for v in _SHARED_VIEWS if v[0] not in dict(own)), *extra_views]
    texts = {name: bigquery_sql(file) for name, file in views}
    if shape == "sink-shards":
        texts["sink_rows"] = shard_rows(shards or {})
    body = bigquery_sql(question)
    needed: set[str] = set()
    pending = [body]
    while pending:
        sql = pending.pop()
        for name, _ in views:
            if name not in needed and _reads(sql, name):
                needed.add(name)
                pending.append(texts[name])
    clauses: list[str] = []
    for name, _ in views:
        if name not in needed:
            continue
        if name == "sink_rows" and padding is not None and shape != "sink-shards":
            clauses.append(f"sink_scan AS (\n{texts[name]}\n)")
            clauses.append(f"sink_rows AS (\n{padding}\n)")
        else:
            clauses.append(f"{name} AS (\n{texts[name]}\n)")
    sql = f"-- analyzer: {question}\n"
    sql += ("WITH\n" + ",\n".join(clauses) + "\n" + body) if clauses else body
    parameters = tuple(sorted(set(_PARAMETER.findall(_COMMENT.sub("", sql)))))
    return Statement(sql=sql, parameters=parameters)


def with_source(sql: str, table: str) -> str:
    """`sql` reading `table` (PROJECT.DATASET.TABLE; a date-sharded sink's shards are named in
    its `sink_rows` already, see `shard_rows`)."""
    check_table_id(table)
    for placeholder in SOURCE_PLACEHOLDERS:
        sql = sql.replace(placeholder, f"`{table}`")
    return sql


def check_table_id(table: str) -> str:
    if not _TABLE_ID.fullmatch(table):  # `$` would let a trailing newline through
        raise AnalyzerError(
            f"invalid --source {table!r}: give PROJECT.DATASET.TABLE "
            "(e.g. my-project.logs.run_googleapis_com_stdout)"
        )
    return table


def bound(parameters: tuple[str, ...], values: Mapping[str, object]) -> dict[str, object]:
    """The values of the parameters a statement binds; one it needs but lacks is an error."""
    missing = [p for p in parameters if p not in values]
    if missing:
        raise AnalyzerError(f"query parameters missing: {', '.join(missing)}")
    return {p: values[p] for p in parameters}


# The sink columns sink_entry_fields.sql reads, with their types: a sink table's schema holds
# only the fields its entries ever had (a table of text lines has no jsonPayload at all).
FieldTree = dict[str, "str | FieldTree"]
PAYLOAD_TEXT = (
    "event",
    "message",
    "env",
    "startup_id",
    "phase_name",
    "operation",
    "outcome",
    "vpc_state",
    "breaker_state",
    "from_state",
    "to_state",
    "error_type",
    "error",
    # config_loaded
    "config_path",
    "generated_at",
    "config_sha256",
    "run_id",
    # breaker_summary and phase_context: where the VPC state came from
    "vpc_state_source",
)
PAYLOAD_NUMBERS = (
    "phase",
    "duration_s",
    "timeout_s",
    "vpc_utilization",
    "exit_code",
    # breaker_summary's counts (docs/telemetry.md §2 v1.1)
    "window_s",
    "calls",
    "failures",
    "slow_calls",
    "slow_threshold_s",
    "rejected",
    # vpc_state_changed: the VPC monitor's reading behind it (analyze capacity)
    "vpc_instances",
    "vpc_max_instances",
)
SINK_FIELDS: FieldTree = {
    "insertId": "STRING",
    "timestamp": "TIMESTAMP",
    "receiveTimestamp": "TIMESTAMP",
    "severity": "STRING",
    "logName": "STRING",
    "textPayload": "STRING",
    "resource": {"labels": {"service_name": "STRING", "revision_name": "STRING"}},
    "labels": {"instanceid": "STRING"},
    "jsonPayload": {
        **dict.fromkeys(PAYLOAD_TEXT, "STRING"),
        **dict.fromkeys(PAYLOAD_NUMBERS, "FLOAT64"),
    },
}


def _leaves(tree: FieldTree, prefix: str) -> list[str]:
    out: list[str] = []
    for name, kind in tree.items():
        path = f"{prefix}{name}"
        out += _leaves(kind, f"{path}.") if isinstance(kind, dict) else [path]
    return out


def _sink_columns(present: set[str]) -> str:
    """Every column of SINK_FIELDS as a select list, NULL where `present` lacks it."""

    def column(name: str, kind: str | FieldTree, prefix: str) -> str:
        path = f"{prefix}{name}"
        if not isinstance(kind, dict):
            return path if path in present else f"CAST(NULL AS {kind})"
        inner = ", ".join(f"{column(n, k, f'{path}.')} AS {n}" for n, k in kind.items())
        return f"STRUCT({inner})"

    return ",\n    ".join(f"{column(n, k, '')} AS {n}" for n, k in SINK_FIELDS.items())


def sink_padding(present: set[str]) -> str | None:
    """A SELECT over `sink_scan` giving every column of SINK_FIELDS, NULL where the table's
    leaf paths (`present`: e.g. `jsonPayload.event`) lack it; None when nothing is missing."""
    if all(path in present for path in _leaves(SINK_FIELDS, "")):
        return None
    head = "-- the sink table's columns, NULL where its schema lacks them"
    return f"{head}\nSELECT\n    {_sink_columns(present)}\nFROM sink_scan"


def shard_rows(shards: Mapping[str, set[str]]) -> str:
    """The `sink_rows` view of a date-sharded sink: each shard (table id -> its leaf paths) read
    by sink_shard_rows.sql with its own columns, NULL where it lacks a field, in UNION ALL;
    no shard in the window is no row."""
    if not shards:
        return f"SELECT\n    {_sink_columns(set())}\nLIMIT 0"
    one = bigquery_sql("sink_shard_rows")
    return "\nUNION ALL\n".join(
        f"SELECT\n    {_sink_columns(paths)}\nFROM (\n"
        + one.replace("`sink_shard`", f"`{check_table_id(table)}`")
        + "\n)"
        for table, paths in sorted(shards.items())
    )


def schema_paths(fields: Iterable[Any], prefix: str = "") -> set[str]:
    """The leaf paths of a table schema (google.cloud.bigquery SchemaField objects)."""
    paths: set[str] = set()
    for field in fields:
        name = f"{prefix}{field.name}"
        sub = field.fields or ()
        paths |= schema_paths(sub, f"{name}.") if sub else {name}
    return paths
