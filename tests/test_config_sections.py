"""One config for the fleet: the env default and a section per service, written by `export`
from a recommendation's rows, checked and diffed by section, and picked by a real service
process by its `service=` argument or `$K_SERVICE`, falling back to the default, once said."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from analyzer.cli import main
from analyzer.deploy.diff import MinChange, diff_configs
from analyzer.deploy.export import config_from_recommendation
from analyzer.deploy.model import TimeoutConfig
from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from analyzer.recommend.history import append_recommendation
from analyzer.recommend.model import (
    Breaker,
    Methods,
    PhaseTimeout,
    Policy,
    Quantiles,
    Recommendation,
)
from analyzer.runtime.defaults import default_config
from analyzer.timewindow import Window
from tests.conftest import entry, write_ndjson

pytestmark = pytest.mark.usefixtures("fresh_runtime")
IN_WINDOW_S = 31 * 86400.0  # the conftest clock's start plus a month: inside the run's window
STARTUP = [
    {"event": "startup_started"},
    {"event": "phase_started", "phase": 3, "vpc_state": "pressure", "timeout_s": 80.0},
    {"event": "phase_completed", "phase": 3, "duration_s": 1.0},
]
STATES = ("healthy", "scaling", "pressure", "critical", "unknown")
BACKEND, AUTH = "netra-backend-staging", "netra-auth-staging"
# Phase-3 initialization timeouts per state: the env default, and two services' own.
DEFAULT = {"healthy": 20.0, "scaling": 40.0, "pressure": 80.0, "critical": 120.0, "unknown": 80.0}
OWN = {
    BACKEND: {"healthy": 30.0, "scaling": 60.0, "pressure": 110.0, "critical": 160.0},
    AUTH: {"healthy": 10.0, "scaling": 20.0, "pressure": 45.0, "critical": 70.0, "unknown": 45.0},
}


def row(service: str | None, state: str, timeout_s: float) -> PhaseTimeout:
    return PhaseTimeout(
        service=service,
        phase=3,
        operation="initialization",
        vpc_state=state,
        attempts=100,
        completed=99,
        censored=1,
        quantiles_s=Quantiles(p50=timeout_s / 3, p90=None, p95=None, p99=None),
        methods=Methods(
            p50="kaplan-meier", p90="kaplan-meier", p95="kaplan-meier", p99="lognormal-tail"
        ),
        ci_s=(None, None),
        current_timeout_s=None,
        timeout_s=timeout_s,
        timeout_rate_current=None,
        timeout_rate_recommended=0.004,
    )


def recommendation(own: dict[str, dict[str, float]] = OWN) -> Recommendation:
    """A run whose rows are the env-wide ones (service None) and each service's: backend has
    no `unknown` row, so its section leaves that key to the default."""
    end = datetime(2026, 11, 22, tzinfo=UTC)
    rows = [row(None, state, seconds) for state, seconds in DEFAULT.items()]
    rows += [row(name, s, v) for name, values in own.items() for s, v in values.items()]
    return Recommendation(
        run_id="abcd1234",
        env="staging",
        generated_at=end,
        window=Window(start=end - timedelta(days=28), end=end),
        policy=Policy(),
        timeouts=rows,
        breaker=Breaker(
            failure_threshold=3, recovery_timeout_s=60.0, half_open_max_calls=1, evidence={}
        ),
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    lake = Store(tmp_path / "lake")
    append_recommendation(lake, recommendation())
    return lake


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def export(store: Store, out: Path, *extra: str) -> Any:
    return cli("export", "--env", "staging", "--store", str(store.root), "--out", str(out), *extra)


SERVICE_SCRIPT = """
import json, logging, sys
from analyzer import runtime
from analyzer.runtime import CloudRunJsonFormatter
handler = logging.StreamHandler(sys.stderr)
handler.setFormatter(CloudRunJsonFormatter())
for name in ("analyzer.runtime", "analyzer.startup"):
    logging.getLogger(name).addHandler(handler)
    logging.getLogger(name).setLevel(logging.INFO)
explicit = json.loads(sys.argv[1])
if explicit is not None:
    runtime.load_config(service=explicit)
get = runtime.get_capacity_aware_database_timeout
got = {s: get("staging", "initialization", s) for s in %(states)r}
got2 = {s: get("staging", "initialization", s) for s in %(states)r}
base = runtime.get_database_timeout_config("staging")["initialization_timeout"]
if json.loads(sys.argv[2]):
    runtime.reload_config(service=explicit)
print(json.dumps({"timeouts": got, "again": got == got2, "base": base}))
"""


def run_service(
    config: Path, k_service: str | None, *, explicit: str | None = None, reload: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A service process started with `config` (and $K_SERVICE): what it gets per state for
    phase-3 initialization, and the JSON lines it logged."""
    env = {"ANALYZER_TIMEOUT_CONFIG": str(config), "PATH": "/usr/bin:/bin"}
    if k_service is not None:
        env["K_SERVICE"] = k_service
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            SERVICE_SCRIPT % {"states": STATES},
            json.dumps(explicit),
            json.dumps(reload),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout), [json.loads(line) for line in out.stderr.splitlines()]


def loads(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("event") == "config_loaded"]


def warnings(lines: list[dict[str, Any]]) -> list[str]:
    return [line["message"] for line in lines if line["severity"] == "WARNING"]


@pytest.mark.parametrize("name", ["timeouts.json", "timeouts.yaml", "timeouts.env"])
def test_each_service_process_runs_its_own_section_by_k_service(
    store: Store, tmp_path: Path, name: str
) -> None:
    out = tmp_path / name
    assert export(store, out).exit_code == 0
    checked = cli("export", "--check", str(out))
    assert checked.exit_code == 0, checked.output
    assert f"2 service section(s): {AUTH} (5), {BACKEND} (4)" in checked.output

    backend, lines = run_service(out, BACKEND)
    # Its own values, and the default's for the key its section leaves out.
    assert backend["timeouts"] == {**OWN[BACKEND], "unknown": DEFAULT["unknown"]}
    assert backend["base"] == 30.0  # the seed's base: the smallest its config allows
    (load,) = loads(lines)
    assert (load["service"], load["outcome"], load["schema_version"]) == (BACKEND, "loaded", 3)
    assert "error" not in load and warnings(lines) == []

    auth, _ = run_service(out, AUTH)
    assert auth["timeouts"] == OWN[AUTH]
    nobody, lines = run_service(out, None)
    assert nobody["timeouts"] == DEFAULT
    assert warnings(lines) == []


def test_an_explicit_service_argument_wins_over_k_service(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "timeouts.json"
    assert export(store, out).exit_code == 0
    got, lines = run_service(out, BACKEND, explicit=AUTH)
    assert got["timeouts"] == OWN[AUTH]
    assert [load["service"] for load in loads(lines)] == [AUTH]


def test_a_service_without_a_section_runs_the_default_and_says_so_once(
    store: Store, tmp_path: Path
) -> None:
    out = tmp_path / "timeouts.json"
    assert export(store, out).exit_code == 0
    got, lines = run_service(out, "netra-billing-staging", reload=True)
    assert got["timeouts"] == DEFAULT and got["again"]
    said = warnings(lines)
    assert len(said) == 1, said  # two rounds of getters and a reload: one warning
    assert "no section for service 'netra-billing-staging'" in said[0] and str(out) in said[0]
    first, again = loads(lines)  # the reload says what it runs too
    for load in (first, again):
        assert load["outcome"] == "section-missing" and load["service"] == "netra-billing-staging"
        assert "env default timeouts are in force" in load["error"]
        assert load["message"].endswith(load["error"])


def test_a_malformed_section_is_never_worse_than_no_config(store: Store, tmp_path: Path) -> None:
    """The file is refused whole (by --check and by the service alike), so every service runs
    the built-in defaults, as with no config, and the service says why."""
    good = tmp_path / "timeouts.json"
    assert export(store, good).exit_code == 0
    document = json.loads(good.read_text())
    document["services"][AUTH]["timeouts"][0]["timeout_s"] = 900
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    refused = cli("export", "--check", str(bad))
    assert refused.exit_code == 1 and f"services.{AUTH}.timeouts.0.timeout_s" in refused.output
    seed = default_config("staging").timeouts
    for service in (BACKEND, AUTH):
        got, lines = run_service(bad, service)
        assert got["timeouts"] == {s: seed[(3, "initialization", s)] for s in STATES}
        (load,) = loads(lines)
        assert load["outcome"] == "fallback"
        assert f"services.{AUTH}.timeouts[0].timeout_s" in load["error"]


def test_export_service_limits_the_sections_and_keeps_the_default(
    store: Store, tmp_path: Path
) -> None:
    out = tmp_path / "timeouts.json"
    assert export(store, out, "--service", AUTH, "--service", AUTH).exit_code == 0
    document = json.loads(out.read_text())
    assert document["schema_version"] == 3 and list(document["services"]) == [AUTH]
    assert {t["vpc_state"]: t["timeout_s"] for t in document["timeouts"]} == DEFAULT
    assert list(document["provenance"]["service_attempts"]) == [AUTH]
    assert len(document["provenance"]["service_attempts"][AUTH]) == len(OWN[AUTH])
    got, _ = run_service(out, BACKEND)  # now without a section of its own
    assert got["timeouts"] == DEFAULT

    unknown = export(store, tmp_path / "other.json", "--service", "netra-billing")
    assert unknown.exit_code == 1 and not (tmp_path / "other.json").exists()
    assert f"'netra-billing' (its services: {AUTH}, {BACKEND})" in unknown.output
    assert "Traceback" not in unknown.output


def test_a_run_without_service_rows_exports_the_default_alone(tmp_path: Path) -> None:
    config = config_from_recommendation(recommendation(own={}))
    assert config.schema_version == 3 and config.services is None
    assert "services" not in config.document()


def test_diff_names_the_service_of_each_changed_value(store: Store, tmp_path: Path) -> None:
    # One startup in the run's window: the diff reads the rates off the lake.
    events = [entry(payload, t=IN_WINDOW_S + n) for n, payload in enumerate(STARTUP)]
    import_paths([write_ndjson(tmp_path / "e.jsonl", events)], env="staging", store=store)
    deployed = tmp_path / "deployed.json"
    assert export(store, deployed).exit_code == 0
    document = json.loads(deployed.read_text())
    for value in document["services"][BACKEND]["timeouts"]:
        if value["vpc_state"] == "pressure":
            value["timeout_s"] = 80.0  # the service ran 80 s where the run now says 110 s
    deployed.write_text(json.dumps(document))
    result = export(store, tmp_path / "new.json", "--diff", str(deployed))
    assert result.exit_code == 1, result.output
    assert f"{BACKEND}: 3/initialization/pressure  80 s -> 110 s" in result.output
    assert "1 value(s) differ" in result.output


def _document(
    default: dict[str, float], sections: dict[str, dict[str, float]], version: int = 3
) -> dict[str, Any]:
    def entries(values: dict[str, float]) -> list[dict[str, Any]]:
        return [
            {"phase": 3, "operation": "initialization", "vpc_state": s, "timeout_s": v}
            for s, v in values.items()
        ]

    document: dict[str, Any] = {
        "schema_version": version,
        "env": "staging",
        "timeouts": entries(default),
        "breaker": {"failure_threshold": 3, "recovery_timeout_s": 60, "half_open_max_calls": 1},
    }
    if sections:
        document["services"] = {n: {"timeouts": entries(v)} for n, v in sections.items()}
    return document


def _config(default: dict[str, float], sections: dict[str, dict[str, float]]) -> TimeoutConfig:
    return TimeoutConfig.model_validate(_document(default, sections))


def test_diff_compares_each_service_as_it_runs() -> None:
    """A section that only writes down what the service already ran (the default's value) is
    no change; one that leaves a key to a changed default is the default's change, once."""
    deployed = _config({"pressure": 80.0, "critical": 120.0}, {})
    new = _config({"pressure": 80.0, "critical": 150.0}, {BACKEND: {"pressure": 80.0}})
    changes = diff_configs(deployed, new, min_change=MinChange()).changes
    assert [(c.service, c.key, c.old, c.new) for c in changes] == [
        (None, "3/initialization/critical", 120.0, 150.0)
    ]
    back = diff_configs(new, deployed, min_change=MinChange()).changes
    assert [(c.service, c.key) for c in back] == [(None, "3/initialization/critical")]
    moved = _config({"pressure": 80.0, "critical": 150.0}, {BACKEND: {"pressure": 99.0}})
    changes = diff_configs(new, moved, min_change=MinChange()).changes
    assert [(c.service, c.old, c.new, c.significant) for c in changes] == [
        (BACKEND, 80.0, 99.0, True)
    ]


def test_a_version_2_file_still_loads_and_checks(tmp_path: Path) -> None:
    path = tmp_path / "v2.json"
    path.write_text(json.dumps(_document(DEFAULT, {}, version=2)))
    checked = cli("export", "--check", str(path))
    assert checked.exit_code == 0 and "schema_version 2" in checked.output
    got, lines = run_service(path, BACKEND)
    assert got["timeouts"] == DEFAULT and warnings(lines) == []
    (load,) = loads(lines)
    assert (load["schema_version"], load["service"], load["outcome"]) == (2, BACKEND, "loaded")


def test_a_service_name_cloud_run_cannot_have_is_one_line(tmp_path: Path) -> None:
    lake = Store(tmp_path / "lake")
    append_recommendation(lake, recommendation(own={**OWN, "Odd_Name": {"pressure": 90.0}}))
    refused = export(lake, tmp_path / "t.json")
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "service 'Odd_Name' cannot have a config section" in refused.output
    assert export(lake, tmp_path / "t.json", "--service", BACKEND).exit_code == 0
