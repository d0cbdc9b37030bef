"""The BigQuery table shapes the engine reads: the services' logs as they land in a Log Router
sink table or Log Analytics' `_AllLogs` (and our entries written into either), and a table of
the lake's columns (the materialised table).

Both the GoogleSQL check (its catalog) and the emulator test (its tables) use these schemas."""

from __future__ import annotations

import json
from typing import Any

from google.cloud.bigquery import SchemaField

from analyzer.engine.bigquery_sql import LAKE_COLUMNS, PAYLOAD_NUMBERS, PAYLOAD_TEXT

# The payload fields the engine's sink view reads (strings, and numbers a sink types FLOAT,
# whatever they held), and those our entries carry beyond them.
_PAYLOAD_STRINGS = PAYLOAD_TEXT
_PAYLOAD_NUMBERS = (*PAYLOAD_NUMBERS, "base_timeout_s", "vpc_aware_timeout_s")
_RESOURCE_LABELS = ("service_name", "revision_name", "location", "project_id", "configuration_name")


def json_payload_fields() -> list[SchemaField]:
    return [
        *(SchemaField(name, "STRING") for name in _PAYLOAD_STRINGS),
        *(SchemaField(name, "FLOAT") for name in _PAYLOAD_NUMBERS),
        SchemaField("fallback_applied", "BOOLEAN"),
    ]


def sink_schema(
    *, with_json_payload: bool = True, payload_fields: set[str] | None = None
) -> list[SchemaField]:
    """A sink table of Cloud Run stdout: LogEntry names as they are, label keys lowercased;
    `payload_fields`, when given, the only jsonPayload fields it has (a day's shard has those
    its entries carried)."""
    fields = [
        SchemaField("logName", "STRING"),
        SchemaField(
            "resource",
            "RECORD",
            fields=[
                SchemaField("type", "STRING"),
                SchemaField(
                    "labels", "RECORD", fields=[SchemaField(n, "STRING") for n in _RESOURCE_LABELS]
                ),
            ],
        ),
        SchemaField("textPayload", "STRING"),
        SchemaField("timestamp", "TIMESTAMP"),
        SchemaField("receiveTimestamp", "TIMESTAMP"),
        SchemaField("severity", "STRING"),
        SchemaField("insertId", "STRING"),
        SchemaField("labels", "RECORD", fields=[SchemaField("instanceid", "STRING")]),
        SchemaField("trace", "STRING"),
    ]
    payload = [
        f for f in json_payload_fields() if payload_fields is None or f.name in payload_fields
    ]
    if with_json_payload and payload:
        fields.append(SchemaField("jsonPayload", "RECORD", fields=payload))
    return fields


def log_analytics_schema() -> list[SchemaField]:
    """Log Analytics' `_AllLogs`: snake_case columns, payload and labels as JSON."""
    return [
        SchemaField("timestamp", "TIMESTAMP"),
        SchemaField("receive_timestamp", "TIMESTAMP"),
        SchemaField("log_id", "STRING"),
        SchemaField("log_name", "STRING"),
        SchemaField(
            "resource",
            "RECORD",
            fields=[SchemaField("type", "STRING"), SchemaField("labels", "JSON")],
        ),
        SchemaField("text_payload", "STRING"),
        SchemaField("json_payload", "JSON"),
        SchemaField("severity_text", "STRING"),
        SchemaField("severity_number", "INTEGER"),
        SchemaField("labels", "JSON"),
        SchemaField("insert_id", "STRING"),
        SchemaField("trace", "STRING"),
        SchemaField("span_id", "STRING"),
    ]


def lake_schema() -> list[SchemaField]:
    """A table of shape `lake` (the materialised table): the lake's columns."""
    return [SchemaField(name, kind) for name, kind in LAKE_COLUMNS]


def _numbers_as_float(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        k: float(v) if k in _PAYLOAD_NUMBERS and isinstance(v, int | float) else v
        for k, v in payload.items()
        if k in _PAYLOAD_STRINGS or k in _PAYLOAD_NUMBERS or k == "fallback_applied"
    }


def sink_row(entry: dict[str, Any]) -> dict[str, Any]:
    """A LogEntry as a sink writes it."""
    resource = entry.get("resource", {})
    row: dict[str, Any] = {
        "logName": entry.get("logName"),
        "resource": {
            "type": resource.get("type"),
            "labels": {k: resource.get("labels", {}).get(k) for k in _RESOURCE_LABELS},
        },
        "textPayload": entry.get("textPayload"),
        "timestamp": entry["timestamp"],
        "receiveTimestamp": entry.get("receiveTimestamp"),
        "severity": entry.get("severity"),
        "insertId": entry["insertId"],
        "labels": {"instanceid": entry.get("labels", {}).get("instanceId")},
    }
    if "jsonPayload" in entry:
        row["jsonPayload"] = _numbers_as_float(entry["jsonPayload"])
    return row


def log_analytics_row(
    entry: dict[str, Any], log_id: str = "run.googleapis.com/stdout"
) -> dict[str, Any]:
    """A LogEntry as `_AllLogs` shows it (in the log `log_id`)."""
    resource = entry.get("resource", {})
    payload = entry.get("jsonPayload")
    return {
        "timestamp": entry["timestamp"],
        "receive_timestamp": entry.get("receiveTimestamp"),
        "log_id": log_id,
        "log_name": entry.get("logName"),
        "resource": {
            "type": resource.get("type"),
            "labels": json.dumps(resource.get("labels", {})),
        },
        "text_payload": entry.get("textPayload"),
        "json_payload": json.dumps(payload) if payload is not None else None,
        "severity_text": entry.get("severity"),
        "severity_number": 200,
        "labels": json.dumps(entry["labels"]) if "labels" in entry else None,
        "insert_id": entry["insertId"],
        "trace": None,
        "span_id": None,
    }


def emulator_client(endpoint: str) -> Any:
    """A BigQuery client of the emulator's project at `endpoint`, anonymous."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    from tests.bigquery_emulator import PROJECT

    return bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=endpoint),
    )


def create_table(
    client: Any, table: str, schema: list[SchemaField], rows: list[dict[str, Any]]
) -> None:
    """`table` made with `schema` and holding `rows` (streamed in 1,000-row batches)."""
    from google.cloud import bigquery

    client.create_table(bigquery.Table(table, schema=schema))
    for at in range(0, len(rows), 1000):
        errors = client.insert_rows_json(table, rows[at : at + 1000])
        assert not errors, errors[:3]
