"""The runtime's telemetry, as Cloud Run would store it, imports back without loss."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from analyzer.engine.local import connect
from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from analyzer.runtime import CloudRunJsonFormatter, StartupTelemetry, emit
from tests.conftest import at, write_ndjson


@pytest.fixture
def captured() -> io.StringIO:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(CloudRunJsonFormatter())
    logger = logging.getLogger("analyzer.startup")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)


def as_cloud_run_entries(stream: io.StringIO, instance: str) -> list[dict]:
    """What Cloud Run does with JSON stdout lines: severity lifted, the rest is jsonPayload."""
    entries = []
    for n, line in enumerate(stream.getvalue().splitlines()):
        payload = json.loads(line)
        entries.append(
            {
                "insertId": f"{instance}-{n}",
                "timestamp": at(n),
                "severity": payload.pop("severity"),
                "resource": {"type": "cloud_run_revision", "labels": {"service_name": "svc"}},
                "labels": {"instanceId": instance},
                "jsonPayload": payload,
            }
        )
    return entries


def test_every_line_is_one_json_object_with_severity_and_message(captured: io.StringIO) -> None:
    emit("phase_failed", phase=3, outcome="timeout", duration_s=20.0, timeout_s=float("nan"))
    logging.getLogger("analyzer.startup").info("plain line")
    first, second = (json.loads(line) for line in captured.getvalue().splitlines())
    assert first["severity"] == "ERROR" and first["event"] == "phase_failed"
    assert first["message"] == "SMD Phase 3 database initialization timeout after 20.0s"
    assert first["timeout_s"] is None  # never NaN: that is not JSON
    assert second == {"severity": "INFO", "message": "plain line"}


def test_a_startup_imports_back_losslessly(tmp_path: Path, captured: io.StringIO) -> None:
    telemetry = StartupTelemetry(env="staging", startup_id="s-1")
    telemetry.started()
    with telemetry.phase(1, "configuration"):
        pass
    telemetry.event(
        "timeout_calculated",
        phase=3,
        timeout_s=83.0,
        vpc_state="pressure",
        base_timeout_s=75.0,
        vpc_aware_timeout_s=83.0,
    )
    with (
        pytest.raises(TimeoutError),
        telemetry.phase(3, "database", timeout_s=83.0, vpc_state="pressure"),
    ):
        raise TimeoutError
    telemetry.event(
        "vpc_state_changed", from_state="pressure", to_state="critical", vpc_utilization=0.93
    )
    telemetry.event("breaker_transition", from_state="CLOSED", to_state="OPEN")
    telemetry.failed(exit_code=3)
    emitted = [json.loads(line) for line in captured.getvalue().splitlines()]
    store = Store(tmp_path / "lake")
    result = import_paths(
        [write_ndjson(tmp_path / "e.jsonl", as_cloud_run_entries(captured, "i-1"))],
        env="staging",
        store=store,
    )
    assert (result.stored, result.skipped, result.quarantined) == (len(emitted), 0, 0)

    con = connect(store)
    rows = con.execute("SELECT * FROM events ORDER BY ts").fetchall()
    columns = [d[0] for d in con.description]
    for sent, row in zip(emitted, rows, strict=True):
        stored = dict(zip(columns, row, strict=True))
        assert stored["form"] == "structured" and stored["env"] == "staging"
        assert stored["startup_id"] == "s-1" and stored["severity"] == sent["severity"]
        for field in (
            "event",
            "phase",
            "phase_name",
            "operation",
            "outcome",
            "duration_s",
            "timeout_s",
            "vpc_state",
            "from_state",
            "to_state",
            "vpc_utilization",
            "exit_code",
            "error_type",
            "message",
        ):
            if field in sent:
                assert stored[field] == sent[field], field
        kept = json.loads(stored["payload"])
        assert kept == {k: v for k, v in sent.items() if k != "severity"}
    (attempt,) = con.execute(
        "SELECT outcome, censored, timeout_s, vpc_state FROM phase_attempts WHERE phase = 3"
    ).fetchall()
    assert attempt == ("timeout", True, 83.0, "pressure")
