"""`config_loaded` says what the process runs (loaded, section-missing, env-mismatch,
fallback) under the env it runs in; strict mode refuses a set but unusable config; the
importer keeps only the known outcomes and matches a payload's env whatever its case."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from analyzer import runtime
from analyzer.analysis.summary import summarize
from analyzer.engine import local_engine
from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from tests.conftest import entry, write_ndjson

pytestmark = pytest.mark.usefixtures("fresh_runtime")

SEED_INIT_S = 75.0


def config_file(tmp_path: Path, env: str = "production", **extra: Any) -> Path:
    document = {
        "schema_version": 2,
        "env": env,
        "timeouts": [
            {"phase": 3, "operation": "initialization", "vpc_state": "unknown", "timeout_s": 136.0}
        ],
        "breaker": {"failure_threshold": 5, "recovery_timeout_s": 30.0, "half_open_max_calls": 1},
        **extra,
    }
    path = tmp_path / f"timeouts-{env}.json"
    path.write_text(json.dumps(document))
    return path


def loads(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        r.telemetry  # type: ignore[attr-defined]
        for r in caplog.records
        if getattr(r, "telemetry", {}).get("event") == "config_loaded"
    ]


@pytest.fixture
def events(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="analyzer.startup")
    return caplog


def test_a_production_config_asked_for_staging_is_not_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, events: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ANALYZER_TIMEOUT_CONFIG", str(config_file(tmp_path)))
    assert runtime.get_capacity_aware_database_timeout("staging", "initialization") == SEED_INIT_S
    runtime.get_database_circuit_breaker()
    (load,) = loads(events)  # one event, under the env the service asked for
    assert (load["outcome"], load["env"]) == ("env-mismatch", "staging")
    assert "'production', not 'staging'" in load["error"]
    assert load["message"].startswith("Timeout config not used, built-in defaults in force")


def test_environment_names_the_env_when_the_getters_have_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, events: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "Staging")
    runtime.load_config(config_file(tmp_path))
    assert [(e["outcome"], e["env"]) for e in loads(events)] == [("env-mismatch", "staging")]
    runtime.reset_runtime()
    monkeypatch.setenv("ENVIRONMENT", "production")
    runtime.load_config(config_file(tmp_path))
    assert [(e["outcome"], e["env"]) for e in loads(events)][-1] == ("loaded", "production")


def test_a_load_with_no_env_said_then_a_getter_for_another_env_says_so(
    tmp_path: Path, events: pytest.LogCaptureFixture
) -> None:
    runtime.load_config(config_file(tmp_path))  # no env argument, no $ENVIRONMENT
    for _ in range(3):
        assert runtime.get_capacity_aware_database_timeout("staging") == SEED_INIT_S
    assert runtime.get_capacity_aware_database_timeout("production") == 136.0
    said = [(e["outcome"], e["env"]) for e in loads(events)]
    assert said == [("loaded", "production"), ("env-mismatch", "staging")]


def test_a_service_without_its_section_says_section_missing(
    tmp_path: Path, events: pytest.LogCaptureFixture
) -> None:
    section = {
        "timeouts": [
            {"phase": 3, "operation": "initialization", "vpc_state": "unknown", "timeout_s": 99.0}
        ]
    }
    path = config_file(tmp_path, env="staging", schema_version=3, services={"backend": section})
    runtime.load_config(path, service="auth", env="staging")
    runtime.load_config(path, service="backend", env="staging")
    assert [e["outcome"] for e in loads(events)] == ["section-missing", "loaded"]


@pytest.mark.parametrize("strict", ["1", "0"])
@pytest.mark.parametrize("problem", ["invalid", "missing", "env-mismatch"])
def test_strict_mode_refuses_a_set_but_unusable_config(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    events: pytest.LogCaptureFixture,
    strict: str,
    problem: str,
) -> None:
    monkeypatch.setenv("ANALYZER_STRICT_CONFIG", strict)
    path = {
        "invalid": tmp_path / "bad.json",
        "missing": tmp_path / "missing.json",
        "env-mismatch": config_file(tmp_path),
    }[problem]
    if problem == "invalid":
        path.write_text('{"schema_version": 2, "env": "staging", "timeouts": "no"}')
    monkeypatch.setenv("ANALYZER_TIMEOUT_CONFIG", str(path))
    if strict == "0":
        assert runtime.get_capacity_aware_database_timeout("staging") == SEED_INIT_S
        return
    for getter in (
        lambda: runtime.get_capacity_aware_database_timeout("staging"),
        lambda: runtime.get_database_timeout_config("staging"),
        lambda: runtime.get_database_circuit_breaker("staging"),
    ):
        with pytest.raises(runtime.ConfigRefused, match="ANALYZER_STRICT_CONFIG is set") as err:
            getter()
        assert str(path) in str(err.value)
    (load,) = loads(events)  # the refusal is said in the logs once, before it stops the service
    assert load["outcome"] == ("env-mismatch" if problem == "env-mismatch" else "fallback")


def test_strict_mode_runs_a_usable_config_and_no_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANALYZER_STRICT_CONFIG", "1")
    assert runtime.get_capacity_aware_database_timeout("staging") == SEED_INIT_S  # not set
    runtime.reset_runtime()
    monkeypatch.setenv("ANALYZER_TIMEOUT_CONFIG", str(config_file(tmp_path, env="staging")))
    assert runtime.get_capacity_aware_database_timeout("Staging") == 136.0
    # a reload of a good file lifts a refusal
    runtime.reset_runtime()
    monkeypatch.setenv("ANALYZER_TIMEOUT_CONFIG", str(tmp_path / "missing.json"))
    with pytest.raises(runtime.ConfigRefused):
        runtime.get_capacity_aware_database_timeout("staging")
    runtime.load_config(config_file(tmp_path, env="staging"))
    assert runtime.get_capacity_aware_database_timeout("staging") == 136.0


def test_import_keeps_the_known_outcomes_and_any_case_of_the_env(tmp_path: Path) -> None:
    def load(outcome: str, env: str, n: int) -> dict[str, Any]:
        made = entry(
            {"event": "config_loaded", "env": env, "outcome": outcome, "error": "why"},
            t=n,
            instance=f"i-{n}",
        )
        made["resource"]["labels"]["revision_name"] = f"backend-0000{n}-abc"
        return made

    entries = [
        load("env-mismatch", "Staging", 1),
        load("exploded", "staging", 2),
        load("section-missing", "STAGING", 3),
        load("fallback", "production", 4),
    ]
    store = Store(tmp_path / "lake")
    result = import_paths([write_ndjson(tmp_path / "e.jsonl", entries)], env="staging", store=store)
    assert (result.stored, result.quarantined) == (2, 1)
    assert result.other_envs == {"production": 1}
    configs = summarize(engine=local_engine(store), env="staging").configs
    assert configs is not None
    assert [(c.revision, c.outcome) for c in configs] == [
        ("backend-00001-abc", "env-mismatch"),
        ("backend-00003-abc", "section-missing"),
    ]
    (reason,) = result.quarantine_reasons
    assert reason.startswith(
        "config_loaded outcome must be one of loaded, section-missing, env-mismatch, fallback"
    )


def test_the_runtime_pages_logging_setup_makes_config_loaded_visible(tmp_path: Path) -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "runtime.md").read_text()
    (code,) = re.findall(r"<!-- service example -->\n```python\n(.*?)\n```", page, re.S)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ANALYZER_", "ENVIRONMENT"))},
        "ANALYZER_TIMEOUT_CONFIG": str(config_file(tmp_path, env="staging")),
        "K_SERVICE": "backend",
    }

    def run(source: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-c", source]
        return subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True)

    shown = run(code)
    assert shown.returncode == 0, shown.stderr
    (load,) = [json.loads(line) for line in shown.stdout.splitlines()]
    assert (load["event"], load["outcome"], load["env"]) == ("config_loaded", "loaded", "staging")
    assert (load["severity"], load["service"]) == ("INFO", "backend")
    # without the setup the process runs as well, and says nothing of what it runs
    bare = run(
        "from analyzer.runtime import get_capacity_aware_database_timeout as get\n"
        "assert get('staging', 'initialization') == 136.0"
    )
    assert (bare.returncode, bare.stdout, bare.stderr) == (0, "", "")
