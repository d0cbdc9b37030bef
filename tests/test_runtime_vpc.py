"""The built-in VPC monitor against a local stand-in of the metadata server, Cloud Monitoring and
the Serverless VPC Access API: a saturated connector reads as strained, an idle one as healthy,
failing or hanging APIs as unknown within 15 s, and a lookup on the request path never waits."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from analyzer import runtime
from analyzer.runtime import calculator, vpc
from analyzer.runtime.schema import ConfigError
from analyzer.runtime.vpc import VpcMonitorSettings, VpcReading, VpcStateMonitor, classify
from tests.google_vpc_apis import CONNECTOR, TOKEN, GoogleVpcApis, google_vpc_apis

FAST = {"refresh_every_s": 0.05, "stale_after_s": 5.0, "http_timeout_s": 0.5}


@pytest.fixture
def apis() -> Iterator[GoogleVpcApis]:
    with google_vpc_apis() as found:
        yield found


@pytest.fixture
def wired(
    apis: GoogleVpcApis, monkeypatch: pytest.MonkeyPatch, fresh_runtime: None
) -> GoogleVpcApis:
    for name, value in apis.environ().items():
        monkeypatch.setenv(name, value)
    return apis


def monitor_for(apis: GoogleVpcApis, **options: float) -> VpcStateMonitor:
    settings = VpcMonitorSettings(CONNECTOR, **{**FAST, **options})  # type: ignore[arg-type]
    reader = vpc.ConnectorReader(settings, vpc.Endpoints(apis.environ()))
    return VpcStateMonitor(settings, reader=reader.read)


def skewed_monitor(apis: GoogleVpcApis, **options: float) -> tuple[VpcStateMonitor, list[float]]:
    """A monitor with the default timeouts whose clock runs `skew[0]` seconds ahead."""
    skew = [0.0]
    settings = VpcMonitorSettings(CONNECTOR, refresh_every_s=3600.0, **options)  # type: ignore[arg-type]
    reader = vpc.ConnectorReader(settings, vpc.Endpoints(apis.environ()))
    clock = lambda: time.monotonic() + skew[0]  # noqa: E731
    return VpcStateMonitor(settings, reader=reader.read, clock=clock), skew


def until(check: object, timeout_s: float = 5.0) -> float:
    """Seconds until `check()` holds (fails the test after timeout_s)."""
    began = time.monotonic()
    while not check():  # type: ignore[operator]
        assert time.monotonic() - began < timeout_s, "timed out"
        time.sleep(0.005)
    return time.monotonic() - began


def reading(instances: float, start: float, cpu: float, high: int | None = 10) -> VpcReading:
    return VpcReading(
        instances=instances,
        instances_at_start=start,
        cpu_utilization=cpu,
        min_instances=2,
        max_instances=high,
        connector_state="READY",
        throughput_bytes_per_s=None,
        newest_point_age_s=30.0,
    )


@pytest.mark.parametrize(
    ("instances", "start", "cpu", "high", "state"),
    [
        (10, 10, 0.90, 10, "critical"),  # at max, CPU at the critical threshold
        (10, 10, 0.89, 10, "pressure"),  # at max, CPU under critical: pressure (>= 0.7)
        (5, 5, 0.95, 10, "pressure"),  # room to scale: never critical
        (5, 5, 0.70, 10, "pressure"),  # the seed's 0.7 is pressure
        (5, 3, 0.69, 10, "scaling"),  # instances rose under the pressure threshold
        (5, 5, 0.69, 10, "healthy"),
        (10, 10, 0.20, 10, "healthy"),  # at max but idle
        (5, 5, 0.95, None, "pressure"),  # no known max: never critical from CPU
    ],
)
def test_the_mapping_from_readings_to_states(
    instances: float, start: float, cpu: float, high: int | None, state: str
) -> None:
    settings = VpcMonitorSettings(CONNECTOR)
    assert classify(reading(instances, start, cpu, high), settings)[0] == state


def test_thresholds_come_from_the_config_block() -> None:
    settings = vpc.monitor_settings(
        {"connector": CONNECTOR, "capacity_pressure_threshold": 0.5, "critical_cpu_threshold": 0.6}
    )
    assert settings is not None
    assert classify(reading(5, 5, 0.55), settings)[0] == "pressure"
    assert classify(reading(10, 10, 0.65), settings)[0] == "critical"
    assert vpc.monitor_settings({"connector": CONNECTOR, "monitoring_enabled": False}) is None
    assert vpc.monitor_settings({}, {}) is None
    with pytest.raises(ConfigError, match="is not projects/PROJECT"):
        vpc.monitor_settings({}, {"ANALYZER_VPC_CONNECTOR": "db-connector"})


@pytest.mark.parametrize(
    ("mode", "state"),
    [
        ("saturated", "critical"),
        ("pressure", "pressure"),
        ("scaling", "scaling"),
        ("idle", "healthy"),
    ],
)
def test_the_connector_reads_as_its_state(apis: GoogleVpcApis, mode: str, state: str) -> None:
    apis.set_mode(mode)
    monitor = monitor_for(apis)
    monitor.refresh()
    assert monitor.state() == state, monitor.why()
    found = monitor.reading
    assert found is not None
    assert found.max_instances == {"saturated": 3}.get(mode, 10)
    assert found.instances == {"saturated": 3, "pressure": 5, "scaling": 4}.get(mode, 2)
    assert found.throughput_bytes_per_s is not None and found.throughput_bytes_per_s > 0
    assert 0 <= found.newest_point_age_s < 120
    # every Google call carried the metadata server's token; the token call its flavour header
    for path, headers in apis.requests:
        if path.startswith("/computeMetadata"):
            assert headers["metadata-flavor"] == "Google"
        else:
            assert headers["authorization"] == f"Bearer {TOKEN}"
    monitor.stop()


def test_a_revoked_token_is_fetched_again(apis: GoogleVpcApis) -> None:
    monitor = monitor_for(apis, refresh_every_s=60.0, stale_after_s=120.0)  # refreshes by hand
    monitor.refresh()
    apis.revoke()
    monitor.refresh()  # refused with the old token: unknown, and the token is dropped
    assert (monitor.state(), "HTTP 401" in monitor.why()) == ("unknown", True)
    monitor.refresh()
    assert monitor.state() == "healthy"
    tokens = [p for p, _ in apis.requests if p.startswith("/computeMetadata")]
    assert len(tokens) == 2
    monitor.stop()


@pytest.mark.parametrize("mode", ["failing", "forbidden"])
def test_failing_apis_read_unknown_with_one_warning_per_outage(
    apis: GoogleVpcApis, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    monitor = monitor_for(apis, refresh_every_s=60.0, stale_after_s=120.0)  # refreshes by hand
    monitor.refresh()
    assert monitor.state() == "healthy"
    apis.set_mode(mode)
    with caplog.at_level(logging.WARNING, logger="analyzer.runtime"):
        for _ in range(3):
            monitor.refresh()
        assert monitor.state() == "unknown"
        assert ("HTTP 500" if mode == "failing" else "HTTP 403") in monitor.why()
        apis.set_mode("saturated")
        monitor.refresh()
        monitor.refresh()
    assert monitor.state() == "critical"
    lines = [r.getMessage() for r in caplog.records]
    assert len([m for m in lines if "cannot read connector" in m]) == 1, lines
    assert len([m for m in lines if "readable again" in m]) == 1, lines
    monitor.stop()


def test_hanging_apis_read_unknown_in_time_and_lookups_never_wait(apis: GoogleVpcApis) -> None:
    monitor = monitor_for(apis, http_timeout_s=0.3, refresh_deadline_s=0.6)
    assert monitor.state() == "unknown"  # starts the thread; no reading yet, and no wait
    until(lambda: monitor.state() == "healthy")
    apis.set_mode("hanging")
    began = time.monotonic()
    until(apis.hung.is_set)
    while monitor.state() != "unknown":
        assert time.monotonic() - began < 15.0
    assert time.monotonic() - began < 2.0  # the 0.6 s deadline, not the 15 s bound
    took = []
    for _ in range(500):  # while the thread waits on the API, a lookup never waits with it
        t = time.perf_counter()
        assert monitor.state() == "unknown"
        took.append(time.perf_counter() - t)
    took.sort()
    # a GIL switch on a loaded machine may cost a lookup a few ms; an HTTP call would cost 0.3 s
    assert took[len(took) // 2] < 0.001 and took[-1] < 0.1, (took[len(took) // 2], took[-1])
    monitor.stop()


def test_a_hang_past_the_default_deadline_reads_unknown(apis: GoogleVpcApis) -> None:
    """With the defaults (5 s a call, 12 s a refresh): a refresh stuck in a call reads unknown
    once it has run 12 s, though the reading itself is 90 s fresh. The monitor's clock is
    moved on instead of waiting 12 s."""
    monitor, skew = skewed_monitor(apis, stale_after_s=7200.0)
    monitor.refresh()
    assert monitor.state() == "healthy"
    apis.set_mode("hanging")
    import threading

    stuck = threading.Thread(target=monitor.refresh, daemon=True)
    stuck.start()
    until(apis.hung.is_set)
    assert monitor.state() == "healthy"  # a refresh under way, within its deadline
    skew[0] = 12.1
    assert monitor.state() == "unknown"
    assert "hang" in monitor.why()
    apis.set_mode("idle")
    stuck.join(timeout=10)
    monitor.stop()


def test_a_stale_reading_reads_unknown(apis: GoogleVpcApis) -> None:
    monitor, skew = skewed_monitor(apis, stale_after_s=90.0)
    monitor.refresh()
    assert monitor.state() == "healthy"
    skew[0] = 90.5
    assert monitor.state() == "unknown"
    assert "old" in monitor.why()
    monitor.stop()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_runs_its_own_thread(apis: GoogleVpcApis) -> None:
    monitor = monitor_for(apis, refresh_every_s=0.05)
    until(lambda: monitor.state() == "healthy")
    parent_thread = monitor._thread
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first lookup starts its own thread, which reads again
        try:
            before = monitor.reading.read_at if monitor.reading else None
            own = monitor.state() == "healthy" and monitor._thread is not parent_thread
            ends = time.monotonic() + 5.0
            while monitor.reading is None or monitor.reading.read_at == before:
                if time.monotonic() > ends:
                    own = False
                    break
                time.sleep(0.01)
            os.write(write, json.dumps({"ok": own and monitor.state() == "healthy"}).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    answer = json.loads(os.read(read, 1000))
    os.close(read)
    assert answer["ok"]
    monitor.stop()


def test_the_runtime_uses_the_monitor_and_a_provider_overrides_it(wired: GoogleVpcApis) -> None:
    wired.set_mode("saturated")
    assert runtime.current_vpc_state() == "unknown"  # the first lookup starts it, never waits
    monitor = calculator.get_vpc_state_monitor()
    assert monitor is not None and monitor.wait_for_reading(5.0)
    assert runtime.current_vpc_state() == "critical"
    assert runtime.get_vpc_monitor("staging").current_state.value == "critical"
    assert runtime.get_vpc_monitor("staging").source == "monitor"
    # the seed's staging initialization, critical: 75 s base + 2 x 20 s buffer
    assert runtime.get_capacity_aware_database_timeout("staging", "initialization") == 115.0
    runtime.register_vpc_state_provider(lambda: "healthy")
    assert runtime.current_vpc_state() == "healthy"
    assert runtime.get_vpc_monitor("staging").source == "provider"
    runtime.register_vpc_state_provider(None)
    assert calculator.vpc_state_and_source() == ("critical", "monitor")


def test_without_wiring_the_state_is_unknown_from_nowhere(fresh_runtime: None) -> None:
    assert calculator.vpc_state_and_source() == ("unknown", "none")
    assert runtime.get_vpc_monitor("staging").source == "none"


def test_the_config_turns_it_on_and_its_thresholds_apply(
    apis: GoogleVpcApis, monkeypatch: pytest.MonkeyPatch, fresh_runtime: None, tmp_path: Path
) -> None:
    environ = apis.environ()
    del environ["ANALYZER_VPC_CONNECTOR"]
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    config = {
        "schema_version": 3,
        "env": "staging",
        "timeouts": [
            {"phase": 3, "operation": "initialization", "vpc_state": "healthy", "timeout_s": 60}
        ],
        "breaker": {"failure_threshold": 5, "recovery_timeout_s": 30, "half_open_max_calls": 1},
        "vpc": {"connector": CONNECTOR, "capacity_pressure_threshold": 0.1, "refresh_every_s": 1},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    monkeypatch.setenv("ANALYZER_TIMEOUT_CONFIG", str(path))
    monkeypatch.setenv("ENVIRONMENT", "staging")
    monitor = calculator.get_vpc_state_monitor()
    assert monitor is not None and monitor.settings.refresh_every_s == 1.0
    assert monitor.wait_for_reading(5.0)
    assert runtime.current_vpc_state() == "pressure"  # idle's CPU 0.12 is over 0.1


def test_breaker_summaries_say_where_the_state_came_from(
    wired: GoogleVpcApis, caplog: pytest.LogCaptureFixture
) -> None:
    monitor = calculator.get_vpc_state_monitor()
    assert monitor is not None and monitor.wait_for_reading(5.0)
    breaker = runtime.get_database_circuit_breaker("staging")
    breaker.record_success(duration_s=0.01)
    with caplog.at_level(logging.INFO, logger="analyzer.startup"):
        breaker.flush()
    summaries = [
        r.telemetry
        for r in caplog.records
        if getattr(r, "telemetry", {}).get("event") == "breaker_summary"
    ]  # type: ignore[attr-defined]
    assert [(s["vpc_state"], s["vpc_state_source"]) for s in summaries] == [("healthy", "monitor")]


def test_phase_context_records_the_state_and_its_source(
    fresh_runtime: None, caplog: pytest.LogCaptureFixture
) -> None:
    runtime.register_vpc_state_provider(lambda: "scaling")
    with caplog.at_level(logging.INFO, logger="analyzer.startup"):
        payload = runtime.StartupTelemetry(env="staging").context(breaker_state="CLOSED")
    assert (payload["vpc_state"], payload["vpc_state_source"]) == ("scaling", "provider")
    assert payload["message"] == "VPC connector state: scaling, Circuit breaker: CLOSED"


def _check(environ: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANALYZER_", "GCE_"))}
    return subprocess.run(
        [sys.executable, "-m", "analyzer.runtime.vpc", *args],
        env={**env, **environ},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_wiring_check_prints_the_state_and_its_readings(apis: GoogleVpcApis) -> None:
    apis.set_mode("saturated")
    done = _check(apis.environ())
    assert done.returncode == 0, done.stderr
    assert "state: critical" in done.stdout
    assert "instances: 3 (at the window's start 3; min 2, max 3)" in done.stdout
    status = json.loads(_check(apis.environ(), "--json").stdout)
    assert status["state"] == "critical"
    assert status["reading"]["cpu_utilization"] == pytest.approx(0.95)
    apis.set_mode("forbidden")
    failed = _check(apis.environ())
    assert failed.returncode == 1
    assert "HTTP 403" in failed.stdout and "Traceback" not in failed.stderr
    missing = _check({})
    assert missing.returncode == 1
    assert "not wired" in missing.stdout and "ANALYZER_VPC_CONNECTOR" in missing.stdout
    bad = _check({"ANALYZER_VPC_CONNECTOR": "db-connector"})
    assert bad.returncode == 1 and "is not projects/PROJECT" in bad.stdout


@pytest.mark.slow  # the session's recommended store: ~20 s when no other test made it
def test_export_keeps_the_deployed_vpc_block(recommended_store: Path, tmp_path: Path) -> None:
    """The monitor's settings live in the deployed config, set by hand: the weekly export
    (`export --diff DEPLOYED`) keeps them, and the runtime reads them from the new file."""
    from click.testing import CliRunner

    from analyzer.cli import main

    on = ["--env", "staging", "--store", str(recommended_store)]
    first = tmp_path / "first.json"
    done = CliRunner().invoke(main, ["export", *on, "--out", str(first)])
    assert done.exit_code == 0, done.output
    deployed = json.loads(first.read_text())
    assert "vpc" not in deployed
    block = {"connector": CONNECTOR, "critical_cpu_threshold": 0.85, "refresh_every_s": 20}
    deployed["vpc"] = block
    deployed["pool"] = {"pool_size": 12}
    (tmp_path / "deployed.json").write_text(json.dumps(deployed))
    args = ["export", *on, "--diff", str(tmp_path / "deployed.json")]
    done = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "new.json")])
    assert done.exit_code in (0, 1), done.output
    assert "kept from" in done.stderr and "pool, vpc" in done.stderr
    new = json.loads((tmp_path / "new.json").read_text())
    assert (new["vpc"], new["pool"]) == (block, {"pool_size": 12})
    settings = vpc.monitor_settings(runtime.read_config(tmp_path / "new.json").vpc, {})
    assert settings is not None and settings.critical_cpu_threshold == 0.85
