"""analyzer.runtime: light to import, fail-safe config loading, the seed's names and shapes."""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from analyzer.runtime import (
    calculate_capacity_aware_timeout,
    get_capacity_aware_database_timeout,
    get_cloud_sql_optimized_config,
    get_database_circuit_breaker,
    get_database_timeout_config,
    get_vpc_connector_capacity_config,
    load_config,
    register_vpc_state_provider,
    timeout_for,
)

SEED_STAGING = {
    "initialization_timeout": 75.0,
    "connection_timeout": 35.0,
    "pool_timeout": 45.0,
    "health_check_timeout": 20.0,
}


pytestmark = pytest.mark.usefixtures("fresh_runtime")


def config_document(**overrides: Any) -> dict[str, Any]:
    document = {
        "schema_version": 2,
        "env": "staging",
        "timeouts": [
            {"phase": 3, "operation": "initialization", "vpc_state": "healthy", "timeout_s": 17.0},
            {"phase": 3, "operation": "initialization", "vpc_state": "pressure", "timeout_s": 83.0},
            {"phase": 3, "operation": "initialization", "vpc_state": "unknown", "timeout_s": 136.0},
        ],
        "breaker": {"failure_threshold": 2, "recovery_timeout_s": 600.0, "half_open_max_calls": 1},
    }
    document.update(overrides)
    return document


def write(tmp_path: Path, document: Any, name: str = "timeouts.json") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def test_import_pulls_in_nothing_heavy() -> None:
    code = (
        "import sys, analyzer.runtime\n"
        "heavy = ('polars', 'duckdb', 'google', 'click', 'rich', 'pydantic', 'numpy', 'scipy',"
        " 'yaml', 'asyncio', 'typing', 'dataclasses', 'pathlib')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_defaults_are_the_seeds_values() -> None:
    assert get_database_timeout_config("staging") == SEED_STAGING
    assert get_cloud_sql_optimized_config("staging")["pool_config"] == {
        "pool_size": 10,
        "max_overflow": 15,
        "pool_timeout": 90.0,
        "capacity_safety_margin": 0.8,
    }
    vpc = get_vpc_connector_capacity_config("staging")
    assert (vpc["capacity_pressure_threshold"], vpc["scaling_buffer_timeout"]) == (0.7, 20.0)
    assert vpc["monitoring_enabled"] is True and vpc["capacity_aware_timeouts"] is True
    # Without a recommendation: the base when healthy or unknown, plus the scaling buffer.
    assert get_capacity_aware_database_timeout("staging", "initialization") == 75.0
    assert get_capacity_aware_database_timeout("staging", "initialization", "pressure") == 95.0
    assert get_capacity_aware_database_timeout("staging", "initialization", "critical") == 115.0
    breaker = get_database_circuit_breaker()
    assert (breaker.failure_threshold, breaker.recovery_timeout_s) == (5, 30.0)


def test_config_from_the_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANALYZER_TIMEOUT_CONFIG", str(write(tmp_path, config_document())))
    assert get_capacity_aware_database_timeout("staging", "initialization", "pressure") == 83.0
    assert get_capacity_aware_database_timeout("staging", "initialization", "healthy") == 17.0
    # A state the config does not know, or none at all: the `unknown` entry.
    assert get_capacity_aware_database_timeout("staging", "initialization", "scaling") == 136.0
    assert get_capacity_aware_database_timeout("staging", "initialization") == 136.0
    # Operations the config does not cover keep the seed's values.
    assert get_database_timeout_config("staging")["connection_timeout"] == 35.0
    assert get_database_circuit_breaker().failure_threshold == 2


def test_vpc_state_from_a_registered_provider(tmp_path: Path) -> None:
    load_config(write(tmp_path, config_document()))
    register_vpc_state_provider(lambda: "pressure")
    assert get_capacity_aware_database_timeout("staging", "initialization") == 83.0
    register_vpc_state_provider(lambda: 1 / 0)  # a broken provider means unknown, not a crash
    assert get_capacity_aware_database_timeout("staging", "initialization") == 136.0


def test_never_below_the_base(tmp_path: Path) -> None:
    load_config(write(tmp_path, config_document()))
    for state in ("healthy", "pressure", "unknown", None):
        value = get_capacity_aware_database_timeout("staging", "initialization", state)
        assert value >= get_database_timeout_config("staging")["initialization_timeout"]
    assert calculate_capacity_aware_timeout(200.0, "pressure") == 200.0


def test_a_config_for_another_env_leaves_the_defaults(tmp_path: Path) -> None:
    load_config(write(tmp_path, config_document(env="production")))
    assert get_database_timeout_config("staging") == SEED_STAGING


HOSTILE = {
    "missing file": None,
    "not json": "{ this is not json",
    "empty": "",
    "a list": [1, 2, 3],
    "old version": config_document(schema_version=1),
    "negative timeout": config_document(
        timeouts=[
            {"phase": 3, "operation": "initialization", "vpc_state": "healthy", "timeout_s": -5}
        ]
    ),
    "zero timeout": config_document(
        timeouts=[
            {"phase": 3, "operation": "initialization", "vpc_state": "healthy", "timeout_s": 0}
        ]
    ),
    "NaN timeout": '{"schema_version": 2, "env": "staging", "timeouts": [{"phase": 3, '
    '"operation": "initialization", "vpc_state": "healthy", "timeout_s": NaN}], '
    '"breaker": {"failure_threshold": 2, "recovery_timeout_s": 1, "half_open_max_calls": 1}}',
    "infinite timeout": config_document(
        timeouts=[
            {"phase": 3, "operation": "initialization", "vpc_state": "healthy", "timeout_s": 1e400}
        ]
    ),
    "absurd timeout": config_document(
        timeouts=[
            {"phase": 3, "operation": "initialization", "vpc_state": "healthy", "timeout_s": 1e9}
        ]
    ),
    "string timeout": config_document(
        timeouts=[
            {"phase": 3, "operation": "initialization", "vpc_state": "healthy", "timeout_s": "75"}
        ]
    ),
    "boolean timeout": config_document(
        timeouts=[
            {"phase": 3, "operation": "initialization", "vpc_state": "healthy", "timeout_s": True}
        ]
    ),
    "unknown key": config_document(surprise=1),
    "no timeouts": config_document(timeouts=[]),
    "zero threshold": config_document(
        breaker={"failure_threshold": 0, "recovery_timeout_s": 1, "half_open_max_calls": 1}
    ),
    "deep nesting": "[" * 100_000 + "]" * 100_000,
    "huge file": "x" * (5 * 1024 * 1024),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_bad_configs_fall_back_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    document = HOSTILE[case]
    path = tmp_path / "absent.json" if document is None else write(tmp_path, document)
    with caplog.at_level(logging.WARNING, logger="analyzer.runtime"):
        assert load_config(path) is None
    assert len([r for r in caplog.records if r.name == "analyzer.runtime"]) == 1
    assert get_database_timeout_config("staging") == SEED_STAGING
    assert get_capacity_aware_database_timeout("staging", "initialization", "pressure") == 95.0


def test_reloading_keeps_the_breakers_state(tmp_path: Path) -> None:
    load_config(write(tmp_path, config_document()))
    breaker = get_database_circuit_breaker()
    breaker.record_failure(TimeoutError())
    breaker.record_failure(TimeoutError())
    assert breaker.state == "OPEN"
    load_config(
        write(
            tmp_path,
            config_document(
                breaker={
                    "failure_threshold": 4,
                    "recovery_timeout_s": 60.0,
                    "half_open_max_calls": 2,
                }
            ),
            "b.json",
        )
    )
    assert get_database_circuit_breaker() is breaker
    assert breaker.state == "OPEN" and breaker.failure_threshold == 4
    assert math.isclose(breaker.recovery_timeout_s, 60.0)


UNKNOWN_OPERATIONS = ("initialisation", "pool-checkout", "healthcheck", "query", None, 12, "")


@pytest.mark.parametrize("configured", [False, True])
def test_an_unknown_operation_takes_the_most_demanding_known_value(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, configured: bool
) -> None:
    if configured:
        load_config(write(tmp_path, config_document()))
    caplog.set_level(logging.WARNING, logger="analyzer.runtime")
    known = ("initialization", "connection", "pool_checkout", "health_check")
    for state in ("healthy", "scaling", "pressure", "critical", "unknown"):
        most = max(get_capacity_aware_database_timeout("staging", op, state) for op in known)
        configured_most = max(
            found for op in known if (found := timeout_for("staging", op, state)) is not None
        )
        for operation in UNKNOWN_OPERATIONS:
            value = get_capacity_aware_database_timeout("staging", operation, state)  # type: ignore[arg-type]
            assert value == most > 0, (operation, state)
            assert timeout_for("staging", operation, state) == configured_most  # type: ignore[arg-type]
    # with the config: initialization's 136 s in `unknown` beats the seed's other bases
    assert get_capacity_aware_database_timeout("staging", "query", "unknown") == (
        136.0 if configured else 75.0
    )
    warned = [
        r.getMessage()
        for r in caplog.records
        if r.name == "analyzer.runtime" and r.getMessage().startswith(("operation", "more than"))
    ]
    assert "did you mean 'initialization'" in warned[0]
    assert len(warned) == len(UNKNOWN_OPERATIONS) - 1, warned  # once each, the 6th summarised
    assert all("is not a name" in m for m in warned if "None" in m)


def test_a_state_that_is_not_a_name_is_unknown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="analyzer.runtime")
    for state in (12, 3.5, ["pressure"], b"pressure"):
        assert get_capacity_aware_database_timeout("staging", "connection", state) == 35.0  # type: ignore[arg-type]
    register_vpc_state_provider(lambda: 12)  # type: ignore[arg-type, return-value]
    assert get_capacity_aware_database_timeout("staging", "connection") == 35.0
    breaker = get_database_circuit_breaker()
    with breaker.calling(operation=None, vpc_state=12):  # type: ignore[arg-type]
        pass
    assert sum("is not a name" in r.getMessage() for r in caplog.records) == 4


def test_new_names_per_call_warn_a_few_times_and_keep_bounded_memory(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import itertools
    import tracemalloc

    caplog.set_level(logging.WARNING, logger="analyzer.runtime")
    counter = itertools.count()
    register_vpc_state_provider(lambda: f"state-{next(counter)}")
    get_capacity_aware_database_timeout("staging", "connection")  # caches warm
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for n in range(5_000):
            assert get_capacity_aware_database_timeout("staging", "connection") == 35.0
            assert get_capacity_aware_database_timeout(f"env-{n}", "connection", "healthy") > 0
        grown = sum(
            stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(before, "filename")
        )
    finally:
        tracemalloc.stop()
    # 5,000 names each of state and env kept whole would take megabytes (defaults: ~4 KB each)
    assert grown < 1_000_000, grown
    messages = [r.getMessage() for r in caplog.records if r.name == "analyzer.runtime"]
    assert sum("VPC state unknown 'state-" in m for m in messages) == 5
    assert sum("more than 5 unknown VPC states" in m for m in messages) == 1
    assert len(messages) < 20
