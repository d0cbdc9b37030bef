"""The exported timeout config's format, read with the standard library only.

`analyzer.deploy.model` (pydantic) defines the same format for `analyze export`, `--check` and the
published JSON Schema, from the constants here; a test keeps the two in agreement. The runtime
cannot afford pydantic's import time inside the startup it measures.
"""

from __future__ import annotations

import math

TYPE_CHECKING = False  # typing costs the service's startup ~10 ms; only checkers need it
if TYPE_CHECKING:
    from typing import Any

SCHEMA_VERSION = 1
VPC_STATES = ("healthy", "scaling", "pressure", "critical", "unknown")
OPERATIONS = ("initialization", "connection", "pool_checkout", "health_check")
MAX_TIMEOUT_S = 3600.0  # an hour: anything longer is a mistake, not a startup
MAX_RECOVERY_TIMEOUT_S = 86400.0
MAX_FAILURE_THRESHOLD = 1000
MAX_HALF_OPEN_CALLS = 1000
MAX_PHASE = 1000
MAX_ENTRIES = 10_000
NAME_MAX_CHARS = 64


class ConfigError(ValueError):
    """The config is not one this runtime can use; the message says where and why."""


class BreakerSettings:
    """The circuit breaker's three settings. (Plain classes here, not dataclasses: importing
    dataclasses costs a service's startup ~10 ms.)"""

    __slots__ = ("failure_threshold", "half_open_max_calls", "recovery_timeout_s")

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_timeout_s: float = 30.0,
        half_open_max_calls: int = 1,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.recovery_timeout_s = recovery_timeout_s
        self.half_open_max_calls = half_open_max_calls

    def __repr__(self) -> str:
        return (
            f"BreakerSettings({self.failure_threshold}, {self.recovery_timeout_s}, "
            f"{self.half_open_max_calls})"
        )


class RuntimeConfig:
    """What the runtime needs of a config: timeouts keyed by (phase, operation, vpc_state),
    and per (phase, operation) the smallest of them: the base the seed never goes below."""

    __slots__ = ("base", "breaker", "env", "pool", "source", "timeouts", "vpc")

    def __init__(
        self,
        env: str,
        timeouts: dict[tuple[int, str, str], float] | None = None,
        breaker: BreakerSettings | None = None,
        pool: dict[str, float] | None = None,
        vpc: dict[str, float | bool] | None = None,
        source: str = "built-in defaults",
    ) -> None:
        self.env = env
        self.timeouts = dict(timeouts or {})
        self.breaker = breaker or BreakerSettings()
        self.pool = dict(pool or {})
        self.vpc = dict(vpc or {})
        self.source = source
        self.base: dict[tuple[int, str], float] = {}
        for (phase, operation, _), seconds in self.timeouts.items():
            key = (phase, operation)
            self.base[key] = min(seconds, self.base.get(key, seconds))


def _number(value: Any, where: str, *, low: float, high: float, low_open: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: expected a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ConfigError(f"{where}: must be finite, got {value!r}")
    if number < low or (low_open and number == low) or number > high:
        bound = ">" if low_open else ">="
        raise ConfigError(f"{where}: must be {bound} {low:g} and <= {high:g}, got {value!r}")
    return number


def _integer(value: Any, where: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: expected an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise ConfigError(f"{where}: must be between {low} and {high}, got {value}")
    return value


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= NAME_MAX_CHARS:
        raise ConfigError(f"{where}: expected a name of 1 to {NAME_MAX_CHARS} characters")
    return value


def _mapping(value: Any, where: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected an object, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}")
    return value


TOP_KEYS = {"schema_version", "env", "generated_at", "source", "timeouts", "breaker", "pool", "vpc"}
ENTRY_KEYS = {"phase", "operation", "vpc_state", "timeout_s", "attempts", "derived_from"}
BREAKER_KEYS = {"failure_threshold", "recovery_timeout_s", "half_open_max_calls"}
POOL_KEYS = {"pool_size", "max_overflow", "pool_timeout", "capacity_safety_margin"}
VPC_KEYS = {
    "monitoring_enabled",
    "capacity_aware_timeouts",
    "capacity_pressure_threshold",
    "scaling_buffer_timeout",
}


def parse_config(data: Any, source: str = "config") -> RuntimeConfig:
    """Check a decoded config document and turn it into a RuntimeConfig, or raise ConfigError."""
    top = _mapping(data, "config", TOP_KEYS)
    if top.get("schema_version") != SCHEMA_VERSION:
        raise ConfigError(
            f"schema_version: expected {SCHEMA_VERSION}, got {top.get('schema_version')!r}"
        )
    env = _name(top.get("env"), "env")
    entries = top.get("timeouts")
    if not isinstance(entries, list) or not 0 < len(entries) <= MAX_ENTRIES:
        raise ConfigError(f"timeouts: expected a list of 1 to {MAX_ENTRIES} entries")
    timeouts: dict[tuple[int, str, str], float] = {}
    for index, raw in enumerate(entries):
        where = f"timeouts[{index}]"
        entry = _mapping(raw, where, ENTRY_KEYS)
        key = (
            _integer(entry.get("phase"), f"{where}.phase", low=1, high=MAX_PHASE),
            _name(entry.get("operation"), f"{where}.operation"),
            _name(entry.get("vpc_state"), f"{where}.vpc_state"),
        )
        if key in timeouts:
            raise ConfigError(f"{where}: a second entry for phase {key[0]} {key[1]} {key[2]}")
        timeouts[key] = _number(
            entry.get("timeout_s"), f"{where}.timeout_s", low=0.0, high=MAX_TIMEOUT_S
        )
    breaker_raw = _mapping(top.get("breaker"), "breaker", BREAKER_KEYS)
    breaker = BreakerSettings(
        failure_threshold=_integer(
            breaker_raw.get("failure_threshold"),
            "breaker.failure_threshold",
            low=1,
            high=MAX_FAILURE_THRESHOLD,
        ),
        recovery_timeout_s=_number(
            breaker_raw.get("recovery_timeout_s"),
            "breaker.recovery_timeout_s",
            low=0.0,
            high=MAX_RECOVERY_TIMEOUT_S,
        ),
        half_open_max_calls=_integer(
            breaker_raw.get("half_open_max_calls"),
            "breaker.half_open_max_calls",
            low=1,
            high=MAX_HALF_OPEN_CALLS,
        ),
    )
    pool: dict[str, float] = {}
    if "pool" in top:
        for name, value in _mapping(top["pool"], "pool", POOL_KEYS).items():
            pool[name] = _number(value, f"pool.{name}", low=0.0, high=MAX_TIMEOUT_S, low_open=False)
    vpc: dict[str, float | bool] = {}
    if "vpc" in top:
        for name, value in _mapping(top["vpc"], "vpc", VPC_KEYS).items():
            if name in ("monitoring_enabled", "capacity_aware_timeouts"):
                if not isinstance(value, bool):
                    raise ConfigError(f"vpc.{name}: expected true or false")
                vpc[name] = value
            else:
                vpc[name] = _number(
                    value, f"vpc.{name}", low=0.0, high=MAX_TIMEOUT_S, low_open=False
                )
    return RuntimeConfig(
        env=env, timeouts=timeouts, breaker=breaker, pool=pool, vpc=vpc, source=source
    )
