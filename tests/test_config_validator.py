"""One validator: the pydantic model (and the JSON Schema made from it) and the runtime's stdlib
checker accept exactly the same documents, and what both accept means the same timeouts."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.deploy.model import SCHEMA_PATH, TimeoutConfig
from analyzer.runtime import schema as limits
from analyzer.runtime.schema import BREAKER_DEFAULTS, BreakerSettings, ConfigError, parse_config

ABSENT = object()
_text_cases = ["", "x" * 65, 3, None, True]
FIELDS: dict[str, list[Any]] = {
    "phase": [1, 3, 20, 21, 0, -1, 99, 3.0, True, "3", None],
    "operation": [*limits.OPERATIONS, "initialisation", "INITIALIZATION", *_text_cases],
    "vpc_state": [*limits.VPC_STATES, "presure", "PRESSURE", *_text_cases],
    "timeout_s": [
        0.5,
        80,
        240,
        240.0001,
        0,
        -1,
        1000,
        float("nan"),
        float("inf"),
        True,
        "75",
        None,
        10**400,
    ],
    "source": [ABSENT, *limits.VALUE_SOURCES, "guess", None],
    "derived_from": [ABSENT, "critical", "x", None],
}
BREAKER: dict[str, list[Any]] = {
    "failure_threshold": [1, 2, 1000, 1001, 0, 2.0, True, None],
    "recovery_timeout_s": [0.1, 30, 3600, 3601, 0, 5000, float("nan"), "30"],
    "half_open_max_calls": [1, 1000, 1001, 0, 1.5, ABSENT],
    # the optional keys (absent: the consecutive mode as before)
    "mode": [ABSENT, "rate", "consecutive", "Rate", "ratio", "", 1, None],
    "window_calls": [ABSENT, 1, 10_000, 10_001, 0, 5.0, True, None],
    "window_s": [ABSENT, 0.5, 60, 3600, 3601, 0, -1, float("inf"), "60", None],
    "minimum_calls": [ABSENT, 1, 10, 10_001, 0, False],
    "failure_rate_threshold": [ABSENT, 0.5, 1, 1.0001, 0, float("nan"), True],
    "slow_call_rate_threshold": [ABSENT, 0.8, 1.0, 2, 0.0, "0.5"],
    "slow_call_s": [ABSENT, 0.01, 90, 3600, 3601, 0, None],
    "backoff_multiplier": [ABSENT, 1, 1.5, 10, 10.5, 0.9, float("inf")],
    "max_recovery_timeout_s": [ABSENT, 600, 3600, 599.9, 3601, 0, True],
    "max_half_open_s": [ABSENT, 1, 300, 3600, 0, 3600.5, None],
    "summary_every_s": [ABSENT, 1, 60.0, 86400, 0.5, 86401, None],
}
SECTIONS: dict[str, list[Any]] = {
    "pool": [
        ABSENT,
        {"pool_size": 10},
        {"pool_size": -1},
        {"pool_size": True},
        {"bogus": 1},
        None,
        [],
        {"pool_timeout": 3601},
    ],
    "vpc": [
        ABSENT,
        {"monitoring_enabled": True},
        {"monitoring_enabled": 1},
        {"capacity_pressure_threshold": 0.7},
        {"scaling_buffer_timeout": float("inf")},
        {"connector": "projects/p-1/locations/europe-west1/connectors/db"},
        {"connector": "db"},
        {"connector": "projects/p/locations/r/connectors/"},
        {"connector": "projects/p/locations/r/connectors/a b"},
        {"connector": 5},
        {"critical_cpu_threshold": 0.9},
        {"critical_cpu_threshold": 1.5},
        {"critical_cpu_threshold": 0},
        {"refresh_every_s": 1, "stale_after_s": 2},
        {"refresh_every_s": 0.5},
        {"stale_after_s": 30},
        {"stale_after_s": 31},
        {"http_timeout_s": 15},
        {"http_timeout_s": 15.5},
        {"refresh_deadline_s": 0},
        {"lookback_s": 59},
        {"lookback_s": 600},
        {"lookback_s": None},
    ],
    "provenance": [
        ABSENT,
        {"run_id": "abc"},
        {"run_id": ""},
        {"attempts": {"3/x/y": 3}},
        {"attempts": {"k": -1}},
        {"attempts": {"k": 2.0}},
        {"overrides": {"since": "14d"}},
        {"overrides": {"since": 14}},
        {"generated_at": 5},
        {"surprise": 1},
        {"window_end": "x" * 65},
        {"service_attempts": {"auth": {"3/x/y": 3}}},
        {"service_attempts": {"Auth": {"3/x/y": 3}}},
        {"service_attempts": {"auth": {"k": -1}}},
        {"service_attempts": {"auth": 3}},
        None,
    ],
    "schema_version": [3, 2, 1, 4, True, 2.0, 3.0, "3", None, ABSENT],
    "services": [ABSENT, {}, None, [], "x", {"auth": None}, {"auth": {}}, {"auth": []}],
    "env": ["staging", "", "x" * 65, 5, ABSENT],
    "surprise": [ABSENT, 1],
}


VALID_ENTRY = {"phase": 3, "operation": "initialization", "vpc_state": "pressure", "timeout_s": 80}
VALID = {
    "schema_version": 3,
    "env": "staging",
    "timeouts": [VALID_ENTRY],
    "services": {"backend": {"timeouts": [{**VALID_ENTRY, "timeout_s": 95}]}},
    "breaker": {"failure_threshold": 2, "recovery_timeout_s": 600, "half_open_max_calls": 1},
}
# What a schema_version 2 file (no sections) looks like: still read.
VALID_V2 = {k: v for k, v in VALID.items() if k != "services"} | {"schema_version": 2}
# Names a section may or may not have (Cloud Run's: lowercase, digits, hyphens, a letter first).
SERVICE_NAMES = [
    "auth",
    "netra-backend-staging",
    "a--b",
    "a" * 63,
    "a" * 64,
    "Backend",
    "-x",
    "x-",
    "1abc",
    "x_y",
    "",
    "abc\n",
    "caf\u00e9",
]
ENTRY_LISTS = [[], None, {}, "x", [VALID_ENTRY, VALID_ENTRY]]
# Every single change the pools allow: (path, value); ABSENT removes the key.
CHANGES = (
    [(("timeouts", i, k), v) for i in (0, 1) for k, vs in FIELDS.items() for v in vs]
    + [(("breaker", k), v) for k, vs in BREAKER.items() for v in vs]
    + [((k,), v) for k, vs in SECTIONS.items() for v in vs]
    + [(("timeouts",), v) for v in ENTRY_LISTS]
    + [(("services", "backend", "timeouts", 0, k), v) for k, vs in FIELDS.items() for v in vs]
    + [(("services", "backend", "timeouts"), v) for v in ENTRY_LISTS]
    + [(("services", "backend", "surprise"), 1)]
    + [(("services", name), {"timeouts": [VALID_ENTRY]}) for name in SERVICE_NAMES]
)


def _changed(
    second: bool, changes: list[tuple[tuple[Any, ...], Any]], base: dict[str, Any] = VALID
) -> dict[str, Any]:
    document = copy.deepcopy(base)
    if second:
        document["timeouts"].append({**VALID_ENTRY, "vpc_state": "critical"})
    for path, value in changes:
        *parents, last = path
        target: Any = document
        for step in parents:
            inside = (
                isinstance(target, list) and isinstance(step, int) and step < len(target)
            ) or (isinstance(target, dict) and step in target)
            if not inside:
                target = None
                break
            target = target[step]
        value = value if value is ABSENT else copy.deepcopy(value)  # never the pool's own
        if isinstance(target, dict):
            target.pop(last, None) if value is ABSENT else target.__setitem__(last, value)
        elif isinstance(target, list) and isinstance(last, int) and last < len(target):
            target[last] = value
    return document


documents = st.builds(
    _changed,
    st.booleans(),
    st.lists(st.sampled_from(CHANGES), min_size=0, max_size=3),
    st.sampled_from([VALID, VALID_V2]),
)


def _runtime(document: Any) -> tuple[bool, Any]:
    try:
        config = parse_config(document)
    except ConfigError as exc:
        assert len(str(exc)) < 400
        return False, None
    return True, (config.timeouts, config.services, vars_of(config.breaker))


def vars_of(breaker: BreakerSettings) -> tuple[Any, ...]:
    names = ("failure_threshold", "recovery_timeout_s", "half_open_max_calls", *BREAKER_DEFAULTS)
    return tuple(getattr(breaker, name) for name in names)


def _model(document: Any) -> tuple[bool, Any]:
    try:
        config = TimeoutConfig.model_validate(document)
    except ValueError:
        return False, None
    services = {name: keyed(section.timeouts) for name, section in (config.services or {}).items()}
    return True, (keyed(config.timeouts), services, vars_of(config.breaker.settings()))


def keyed(timeouts: list[Any]) -> dict[tuple[int, str, str], float]:
    return {(t.phase, t.operation, t.vpc_state): t.timeout_s for t in timeouts}


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents)
def test_the_model_and_the_runtime_accept_the_same_documents(document: dict[str, Any]) -> None:
    runtime_ok, runtime_reading = _runtime(document)
    model_ok, model_reading = _model(document)
    assert runtime_ok == model_ok, document
    assert runtime_reading == model_reading


def test_the_generator_reaches_both_outcomes() -> None:
    """The property above is not vacuous: valid documents exist among the generated ones, of
    both versions, with and without sections, and invalid ones too."""
    seen: set[tuple[bool, Any, bool]] = set()

    @settings(max_examples=400, deadline=None, database=None)
    @given(document=documents)
    def collect(document: dict[str, Any]) -> None:
        ok, reading = _runtime(document)
        seen.add((ok, document.get("schema_version") if ok else None, bool(ok and reading[1])))

    collect()
    assert {(True, 3, True), (True, 3, False), (True, 2, False), (False, None, False)} <= seen


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ((("services", "Backend"), {"timeouts": [VALID_ENTRY]}), "services: a key"),
        ((("services", "backend", "timeouts", 0, "timeout_s"), 241), "services.backend.timeouts"),
        ((("schema_version",), 2), "services: per-service sections need schema_version 3"),
    ],
)
def test_a_bad_section_is_refused_by_both_saying_where(
    change: tuple[tuple[Any, ...], Any], problem: str
) -> None:
    document = _changed(False, [change])
    with pytest.raises(ConfigError, match=re.escape(problem)):
        parse_config(document)
    with pytest.raises(ValueError, match="services"):
        TimeoutConfig.model_validate(document)


def test_the_published_schema_carries_the_runtimes_names_and_bounds() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    entry = schema["$defs"]["ConfigTimeout"]["properties"]
    assert tuple(entry["vpc_state"]["enum"]) == limits.VPC_STATES
    assert tuple(entry["operation"]["enum"]) == limits.OPERATIONS
    assert entry["timeout_s"]["maximum"] == limits.MAX_TIMEOUT_S
    assert entry["phase"]["maximum"] == limits.MAX_PHASE
    breaker = schema["$defs"]["ConfigBreaker"]["properties"]
    assert breaker["recovery_timeout_s"]["maximum"] == limits.MAX_RECOVERY_TIMEOUT_S
    assert tuple(schema["properties"]["schema_version"]["enum"]) == limits.SCHEMA_VERSIONS
    services = schema["properties"]["services"]["anyOf"][0]
    assert services["patternProperties"].keys() == {limits.SERVICE_NAME_PATTERN}
    assert services["additionalProperties"] is False
    assert services["propertyNames"]["maxLength"] == limits.SERVICE_NAME_MAX_CHARS


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_the_published_pattern_states_the_runtimes_name_rule(name: str) -> None:
    pattern = re.compile(limits.SERVICE_NAME_PATTERN.rstrip("$") + r"\Z")
    fits = bool(pattern.match(name)) and len(name) <= limits.SERVICE_NAME_MAX_CHARS
    assert fits == (limits.service_name_problem(name) is None)


@pytest.mark.parametrize(
    ("key", "value"),
    [(k, v) for k, vs in BREAKER.items() for v in vs if v is not ABSENT and v is not None],
)
def test_a_breaker_made_in_code_takes_the_configs_rules(key: str, value: Any) -> None:
    """`CircuitBreaker(...)` refuses exactly the breaker settings a config file may not hold,
    with the same message (a service that builds its breaker in code is no less safe)."""
    from analyzer.runtime import CircuitBreaker

    block = {**VALID["breaker"], key: value}
    try:
        parse_config({**VALID, "breaker": block})
        refused = None
    except ConfigError as exc:
        refused = str(exc)
    names = {"max_half_open_s": "max_half_open_wait_s"}  # the constructor's name for it
    try:
        settings = {"summary_every_s": None} | {names.get(k, k): v for k, v in block.items()}
        CircuitBreaker(**settings).close()
        made = None
    except ConfigError as exc:
        made = str(exc)
    if refused is None:
        assert made is None
    else:
        assert made is not None, f"the config refuses {key}={value!r}: {refused}"
        assert refused.endswith(f"breaker.{made}") or refused.endswith(
            f"breaker.{made}".replace("max_half_open_wait_s", "max_half_open_s")
        ), (made, refused)
