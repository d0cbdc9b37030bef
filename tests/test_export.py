"""`analyze export`: the recommendation as a config file, checked, and read back by the runtime."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer import runtime
from analyzer.cli import main
from analyzer.deploy.model import SCHEMA_PATH, TimeoutConfig, json_schema
from analyzer.lake.store import Store
from analyzer.recommend.history import latest_recommendation
from analyzer.runtime import get_capacity_aware_database_timeout, load_config
from analyzer.runtime.schema import ConfigError, parse_config
from tests.conftest import copy_lake


@pytest.fixture(scope="module")
def recommended_store(
    sample_recommended_lake: Path, tmp_path_factory: pytest.TempPathFactory
) -> Store:
    return Store(copy_lake(sample_recommended_lake, tmp_path_factory.mktemp("export")))


pytestmark = pytest.mark.usefixtures("fresh_runtime")


@pytest.mark.parametrize("name", ["timeouts.json", "timeouts.yaml", "timeouts.env"])
def test_export_then_the_runtime_returns_the_recommended_value_for_every_state(
    tmp_path: Path, recommended_store: Store, name: str
) -> None:
    out = tmp_path / name
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["export", "--env", "staging", "--store", str(recommended_store.root), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert runner.invoke(main, ["export", "--check", str(out)]).exit_code == 0
    loaded = load_config(out)
    assert loaded is not None
    rec = latest_recommendation(recommended_store, "staging")
    # the env default: what a service runs with no section of its own (no K_SERVICE here)
    rows = [t for t in rec.rows_of(None) if t.phase == 3 and t.operation == "initialization"]
    assert {t.vpc_state for t in rows} >= {"healthy", "scaling", "pressure", "critical", "unknown"}
    for row in rows:
        got = get_capacity_aware_database_timeout(
            "staging", "initialization", vpc_state=row.vpc_state
        )
        assert got == row.timeout_s, row.vpc_state
    breaker = runtime.get_database_circuit_breaker()
    assert breaker.failure_threshold == rec.breaker.failure_threshold
    # the sample holds no in-life calls: the service's breaker is the runtime's built-in one,
    # exactly what it runs with no config
    assert rec.breaker.mode == loaded.breaker.mode == breaker.mode == "consecutive"
    built_in = runtime.CircuitBreaker()
    for name in (
        "failure_threshold",
        "recovery_timeout_s",
        "half_open_max_calls",
        "backoff_multiplier",
        "max_recovery_timeout_s",
        "max_half_open_wait_s",
    ):
        assert getattr(breaker, name) == getattr(built_in, name), name


def test_a_rate_mode_recommendation_ships_every_rate_setting(
    tmp_path: Path, recommended_store: Store
) -> None:
    """Where in-life calls back the rate rules, the breaker block carries them and the
    service's breaker runs the rate mode with each as advised."""
    from analyzer.deploy.export import config_from_recommendation, write_config

    rec = latest_recommendation(recommended_store, "staging")
    rated = rec.breaker.model_copy(
        update={
            "mode": "rate",
            "window_calls": 50,
            "minimum_calls": 20,
            "failure_rate_threshold": 0.2,
            "slow_call_rate_threshold": 0.5,
            "backoff_multiplier": 2.0,
            "max_recovery_timeout_s": 600.0,
        }
    )
    out = write_config(
        config_from_recommendation(rec.model_copy(update={"breaker": rated})), tmp_path / "r.json"
    )
    block = json.loads(out.read_text())["breaker"]
    assert "window_s" not in block and "slow_call_s" not in block  # count window; own timeout
    loaded = load_config(out)
    assert loaded is not None and loaded.breaker.mode == "rate"
    for name in (
        "window_calls",
        "minimum_calls",
        "failure_rate_threshold",
        "slow_call_rate_threshold",
        "backoff_multiplier",
        "max_recovery_timeout_s",
    ):
        assert block[name] == getattr(rated, name) == getattr(loaded.breaker, name), name


def test_export_carries_version_window_and_sample_sizes(
    tmp_path: Path, recommended_store: Store
) -> None:
    out = tmp_path / "t.json"
    CliRunner().invoke(
        main,
        ["export", "--env", "staging", "--store", str(recommended_store.root), "--out", str(out)],
    )
    document = json.loads(out.read_text())
    assert document["schema_version"] == 3 and document["env"] == "staging"
    provenance = document["provenance"]
    assert {"run_id", "generated_at", "window_start", "window_end"} <= set(provenance)
    assert len(provenance["attempts"]) == len(document["timeouts"])
    assert all("source" in t for t in document["timeouts"])
    # no in-life calls in the sample: the runtime's built-in breaker (the seed's defaults)
    assert document["breaker"] == {
        "failure_threshold": 5,
        "recovery_timeout_s": 30.0,
        "half_open_max_calls": 1,
    }


def test_check_says_exactly_what_is_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "schema_version": 2,
                "env": "staging",
                "timeouts": [
                    {"phase": 3, "operation": "initialization", "vpc_state": "x", "timeout_s": -1}
                ],
                "breaker": {
                    "failure_threshold": 0,
                    "recovery_timeout_s": 5,
                    "half_open_max_calls": 1,
                },
            }
        )
    )
    result = CliRunner().invoke(main, ["export", "--check", str(bad)])
    assert result.exit_code == 1
    assert "timeouts.0.timeout_s" in result.output and "breaker.failure_threshold" in result.output


def test_export_without_a_recommendation_says_how(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()  # a store that holds no run (one that does not exist is exit 3)
    result = CliRunner().invoke(
        main,
        [
            "export",
            "--env",
            "staging",
            "--store",
            str(tmp_path / "s"),
            "--out",
            str(tmp_path / "t.json"),
        ],
    )
    assert result.exit_code == 3 and "analyze recommend --env staging" in result.output


def test_published_json_schema_is_current() -> None:
    assert json.loads(SCHEMA_PATH.read_text()) == json_schema(), (
        f"{SCHEMA_PATH} is stale: write json_schema() to it"
    )


_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-10, 10**6),
    st.booleans(),
    st.text(max_size=3),
    st.none(),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    phase=_numbers,
    timeout_s=_numbers,
    threshold=_numbers,
    recovery=_numbers,
    calls=_numbers,
    extra=st.sampled_from([None, "surprise"]),
)
def test_runtime_and_model_agree_on_what_is_valid(
    phase, timeout_s, threshold, recovery, calls, extra
) -> None:
    document = {
        "schema_version": 2,
        "env": "staging",
        "timeouts": [
            {
                "phase": phase,
                "operation": "initialization",
                "vpc_state": "healthy",
                "timeout_s": timeout_s,
            }
        ],
        "breaker": {
            "failure_threshold": threshold,
            "recovery_timeout_s": recovery,
            "half_open_max_calls": calls,
        },
    }
    if extra:
        document[extra] = 1
    try:
        parse_config(document)
        runtime_ok = True
    except ConfigError:
        runtime_ok = False
    try:
        TimeoutConfig.model_validate_json(json.dumps(document))
        model_ok = True
    except ValueError:
        model_ok = False
    assert runtime_ok == model_ok


def test_diff_names_every_breaker_setting_that_changes() -> None:
    from analyzer.deploy.diff import MinChange, diff_configs
    from analyzer.deploy.model import validate_document

    timeouts = [
        {"phase": 3, "operation": "initialization", "vpc_state": "healthy", "timeout_s": 20.0}
    ]
    deployed = {
        "schema_version": 2,
        "env": "staging",
        "timeouts": timeouts,
        "breaker": {"failure_threshold": 1, "recovery_timeout_s": 600.0, "half_open_max_calls": 1},
    }
    rate = {
        **deployed["breaker"],  # type: ignore[dict-item]
        "recovery_timeout_s": 601.0,  # under --min-change: listed, not counted
        "mode": "rate",
        "window_calls": 200,
        "failure_rate_threshold": 0.045,
    }
    found = diff_configs(
        validate_document(deployed, "deployed"),
        validate_document({**deployed, "breaker": rate}, "new"),
        min_change=MinChange(),
    )
    changes = {c.key: (c.old, c.new, c.significant) for c in found.changes}
    assert changes == {
        "breaker/recovery_timeout_s": (600.0, 601.0, False),
        "breaker/mode": (None, "rate", True),
        "breaker/window_calls": (None, 200.0, True),
        "breaker/failure_rate_threshold": (None, 0.045, True),
    }
    assert found.significant
