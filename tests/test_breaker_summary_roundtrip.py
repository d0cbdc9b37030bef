"""breaker_summary end to end: a service process (a subprocess) runs the process-wide breaker
from an exported config in rate mode and logs its summaries, in the structured form and as
text; its lines are imported into a real lake and read back with DuckDB over `payload`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from analyzer.engine.local import connect
from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from analyzer.runtime import schema
from tests.conftest import entry, write_ndjson

SERVICE = r"""
import logging, sys, threading, time
import analyzer.runtime as runtime
from analyzer.runtime import CircuitOpenError, CloudRunJsonFormatter

assert threading.active_count() == 1, "a thread started at import"
handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(
    CloudRunJsonFormatter() if sys.argv[1] == "json" else logging.Formatter("%(message)s")
)
logging.getLogger("analyzer").addHandler(handler)
logging.getLogger("analyzer").setLevel(logging.INFO)
logging.getLogger("analyzer").propagate = False
state = {"now": "healthy"}
runtime.register_vpc_state_provider(lambda: state["now"])
breaker = runtime.get_database_circuit_breaker("staging")
assert threading.active_count() == 1, "a thread started before the first call"
for _ in range(10):
    with breaker.calling(operation="connection"):
        pass
assert threading.active_count() == 2  # the summary timer, started by the first call
state["now"] = "critical"
for _ in range(6):  # five slow failures of 15 calls: 50 % in the window opens it; one refused
    try:
        with breaker.calling(operation="connection", timeout_s=0.01):
            time.sleep(0.02)
            raise TimeoutError("no connection")
    except (TimeoutError, CircuitOpenError):
        pass
assert breaker.state == "OPEN", breaker.get_status()
time.sleep(1.5)  # past summary_every_s: the timer (or the next call) sends the first window
for _ in range(2):
    try:
        with breaker.calling(operation="connection"):
            pass
    except CircuitOpenError:
        pass
# exit: atexit sends the last window
"""

S4_FIELDS = {
    "window_s",
    "calls",
    "failures",
    "slow_calls",
    "slow_threshold_s",
    "rejected",
    "breaker_state",
    "vpc_state",
    "operation",
    "vpc_state_source",  # provider, monitor or none: where the runtime's VPC state came from
}
SUMS = """
SELECT vpc_state, operation,
       sum((payload->>'calls')::INTEGER), sum((payload->>'failures')::INTEGER),
       sum((payload->>'slow_calls')::INTEGER), sum((payload->>'rejected')::INTEGER),
       max((payload->>'slow_threshold_s')::DOUBLE), count(*),
       arg_max(breaker_state, ts), sum((payload->>'window_s')::DOUBLE)
FROM events
WHERE event = 'breaker_summary'
GROUP BY ALL
ORDER BY ALL
"""


def _config(path: Path) -> Path:
    entries = [
        {"phase": 3, "operation": "connection", "vpc_state": state, "timeout_s": seconds}
        for state, seconds in (("healthy", 5.0), ("critical", 60.0))
    ]
    document = {
        "schema_version": schema.SCHEMA_VERSION,
        "env": "staging",
        "timeouts": entries,
        "breaker": {
            # consecutive failures would never open it: only the rate mode can
            "failure_threshold": 100,
            "recovery_timeout_s": 30.0,
            "half_open_max_calls": 2,
            "mode": "rate",
            "window_calls": 10,
            "minimum_calls": 4,
            "failure_rate_threshold": 0.5,
            "summary_every_s": 1.0,
        },
    }
    path.write_text(json.dumps(document))
    return path


def _service_lines(form: str, config: Path) -> list[str]:
    env = {**os.environ, "ANALYZER_TIMEOUT_CONFIG": str(config), "ENVIRONMENT": "staging"}
    env.pop("K_SERVICE", None)
    ran = subprocess.run(
        [sys.executable, "-c", SERVICE, form], capture_output=True, text=True, env=env, timeout=60
    )
    assert ran.returncode == 0, ran.stderr
    return ran.stdout.splitlines()


def _as_entries(lines: list[str], form: str) -> list[dict[str, Any]]:
    """What Cloud Run makes of the lines: a JSON line's fields as jsonPayload (severity lifted
    out), any other line as textPayload."""
    made = []
    for index, line in enumerate(lines):
        if form == "json":
            payload: dict[str, Any] | str = json.loads(line)
            assert isinstance(payload, dict)
            payload.pop("severity", None)
        else:
            payload = line
        made.append(entry(payload, t=float(index), instance="inst-7"))
    return made


@pytest.mark.parametrize("form", ["json", "text"])
def test_the_runtimes_summaries_read_back_from_the_lake(tmp_path: Path, form: str) -> None:
    lines = _service_lines(form, _config(tmp_path / "timeouts.json"))
    summaries = [line for line in lines if "Circuit breaker summary" in line]
    assert len(summaries) >= 3, lines
    store = Store(tmp_path / "lake")
    result = import_paths(
        [write_ndjson(tmp_path / "run.jsonl", _as_entries(lines, form))],
        env="staging",
        store=store,
    )
    assert result.quarantined == 0, result.quarantine_reasons
    con = connect(store)
    try:
        rows = con.execute(SUMS).fetchall()
        payloads = con.execute(
            "SELECT payload FROM events WHERE event = 'breaker_summary'"
        ).fetchall()
    finally:
        con.close()
    # the payload's keys are the contract's (S4) names, in both forms
    for (payload,) in payloads:
        keys = set(json.loads(payload)) - {"event", "message", "env"}
        assert keys == S4_FIELDS or keys == S4_FIELDS - {"slow_threshold_s"}, keys
    [critical, healthy] = rows
    # healthy: 10 calls judged against the config's 5 s connection timeout (in one window, but
    # for a machine so slow that the period ends among them)
    assert healthy[:7] == ("healthy", "connection", 10, 0, 0, 0, 5.0) and healthy[7] >= 1
    # critical: 5 slow failures over their 0.01 s timeout, then refused: 1 at once, 2 later,
    # in two windows (the period's and the one sent at exit), the last one OPEN
    assert critical[:7] == ("critical", "connection", 5, 5, 5, 3, 0.01)
    assert critical[7] >= 2 and critical[8] == "OPEN"
    assert 1.5 <= critical[9] < 30.0
