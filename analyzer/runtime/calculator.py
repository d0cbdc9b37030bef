"""The timeout calculator services call at startup: the exported config (or the seed's values),
the VPC state, and the seed's function names and return shapes."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable

from analyzer.runtime import defaults
from analyzer.runtime.breaker import BreakerState, CircuitBreaker
from analyzer.runtime.emitter import emit
from analyzer.runtime.envfile import from_env_lines
from analyzer.runtime.schema import ConfigError, RuntimeConfig, parse_config

TYPE_CHECKING = False  # typing costs the service's startup ~10 ms; only checkers need it
if TYPE_CHECKING:
    from typing import Any

CONFIG_ENV_VAR = "ANALYZER_TIMEOUT_CONFIG"
MAX_CONFIG_BYTES = 4 * 1024 * 1024
UNKNOWN = "unknown"
OPERATION_ALIASES = {"pool": "pool_checkout", "health": "health_check", "init": "initialization"}

log = logging.getLogger("analyzer.runtime")

VpcStateProvider = Callable[[], "str | None"]


class _Runtime:
    """The process-wide state: the loaded config, the VPC state provider, the breaker."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loaded: RuntimeConfig | None = None
        self.attempted = False
        self.defaults: dict[str, RuntimeConfig] = {}
        self.provider: VpcStateProvider | None = None
        self.breaker: CircuitBreaker | None = None


_runtime = _Runtime()


def _read_document(path: str) -> Any:
    size = os.stat(path).st_size
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{size:,} bytes is more than a config can be ({MAX_CONFIG_BYTES:,})")
    with open(path, encoding="utf-8") as stream:
        text = stream.read()
    suffix = os.path.splitext(path)[1]
    if suffix in (".yaml", ".yml"):
        import yaml  # only where the service has PyYAML; JSON needs nothing

        return yaml.safe_load(text)
    if suffix == ".env":
        return from_env_lines(text)
    return json.loads(text)


def read_config(path: str | os.PathLike[str]) -> RuntimeConfig:
    """Read and check a config file; raises on anything wrong with it."""
    location = os.fspath(path)
    try:
        return parse_config(_read_document(location), source=str(location))
    except ConfigError:
        raise
    except Exception as exc:  # unreadable, not JSON, hostile nesting: all mean "not usable"
        raise ConfigError(f"{type(exc).__name__}: {exc}") from exc


def load_config(path: str | os.PathLike[str] | None = None) -> RuntimeConfig | None:
    """Load the config from `path`, else `$ANALYZER_TIMEOUT_CONFIG`. Never raises: a missing,
    unreadable or invalid config logs one warning and the built-in defaults stay in force.
    The breaker keeps its state; only its settings change."""
    chosen = path if path is not None else os.environ.get(CONFIG_ENV_VAR)
    config: RuntimeConfig | None = None
    if chosen:
        try:
            config = read_config(chosen)
        except ConfigError as exc:
            log.warning("timeout config %s not used (%s); using built-in defaults", chosen, exc)
    with _runtime.lock:
        _runtime.loaded, _runtime.attempted = config, True
        breaker = _runtime.breaker
    if breaker is not None:
        breaker.update_settings(config.breaker if config else defaults.BREAKER)
    return config


reload_config = load_config


def active_config(env: str) -> RuntimeConfig:
    """The loaded config when it is for `env`, else the seed's values for `env`."""
    if not _runtime.attempted:
        load_config()
    loaded = _runtime.loaded
    if loaded is not None and loaded.env == env:
        return loaded
    found = _runtime.defaults.get(env)
    if found is None:
        found = _runtime.defaults.setdefault(env, defaults.default_config(env))
    return found


def register_vpc_state_provider(provider: VpcStateProvider | None) -> None:
    """A function the runtime calls for the current VPC connector state (None to forget it)."""
    _runtime.provider = provider


def current_vpc_state() -> str:
    provider = _runtime.provider
    if provider is None:
        return UNKNOWN
    try:
        state = provider()
    except Exception as exc:
        log.warning("VPC state provider failed (%s); treating the state as unknown", exc)
        return UNKNOWN
    return state if isinstance(state, str) and state else UNKNOWN


def _operation(operation: str) -> str:
    return OPERATION_ALIASES.get(operation, operation)


def timeout_for(
    env: str, operation: str = "initialization", vpc_state: str | None = None, *, phase: int = 3
) -> float | None:
    """The configured timeout for the phase, operation and state; `unknown`'s when the state
    has none; None when the config has nothing for the operation."""
    table = active_config(env).timeouts
    op = _operation(operation)
    state = vpc_state or current_vpc_state()
    found = table.get((phase, op, state))
    return found if found is not None else table.get((phase, op, UNKNOWN))


def get_database_timeout_config(env: str) -> dict[str, float]:
    """The base database timeouts (the seed's keys): for each operation, the smallest the
    config allows in any VPC state, so the capacity-aware timeout only ever adds to it."""
    config = active_config(env)
    return {key: _base_s(config, op) for key, op in defaults.TIMEOUT_KEYS.items()}


def _base_s(config: RuntimeConfig, operation: str) -> float:
    """A loaded config's smallest value for the database operation, else the seed's base."""
    seed = defaults.base_timeouts(config.env).get(operation, 0.0)
    if config is not _runtime.loaded:
        return seed
    return config.base.get((defaults.DATABASE_PHASE, operation), seed)


def get_cloud_sql_optimized_config(env: str) -> dict[str, Any]:
    pool = {**defaults.POOL, **active_config(env).pool}
    return {
        "pool_config": {
            "pool_size": int(pool["pool_size"]),
            "max_overflow": int(pool["max_overflow"]),
            "pool_timeout": float(pool["pool_timeout"]),
            "capacity_safety_margin": float(pool["capacity_safety_margin"]),
        },
        "timeouts": get_database_timeout_config(env),
    }


def get_vpc_connector_capacity_config(env: str) -> dict[str, Any]:
    return {**defaults.VPC, **active_config(env).vpc}


def calculate_capacity_aware_timeout(
    base_timeout: float,
    vpc_state: str | None = None,
    *,
    env: str = "staging",
    operation: str = "initialization",
    phase: int = 3,
) -> float:
    """The timeout for the VPC state, never below `base_timeout`."""
    found = timeout_for(env, operation, vpc_state, phase=phase)
    return max(float(base_timeout), found) if found is not None else float(base_timeout)


def get_capacity_aware_database_timeout(
    env: str, operation: str = "initialization", vpc_state: str | None = None
) -> float:
    """The database timeout for the current VPC state (argument, else the registered
    provider, else `unknown`), never below the base timeout, as the seed requires."""
    op = _operation(operation)
    base = _base_s(active_config(env), op)
    found = timeout_for(env, op, vpc_state, phase=defaults.DATABASE_PHASE)
    return base if found is None or found < base else found


def _log_transition(before: BreakerState, after: BreakerState) -> None:
    emit(
        "breaker_transition",
        from_state=before.value,
        to_state=after.value,
        breaker_state=after.value,
    )


def get_database_circuit_breaker(env: str | None = None) -> CircuitBreaker:
    """The process-wide breaker for the database, set from the config (or the defaults)."""
    with _runtime.lock:
        breaker = _runtime.breaker
    if breaker is None:
        chosen_env = env or os.environ.get("ENVIRONMENT", "staging")
        settings = active_config(chosen_env).breaker
        with _runtime.lock:
            if _runtime.breaker is None:
                _runtime.breaker = CircuitBreaker(
                    settings.failure_threshold,
                    settings.recovery_timeout_s,
                    settings.half_open_max_calls,
                    on_transition=_log_transition,
                )
            breaker = _runtime.breaker
    return breaker


def reset_runtime() -> None:
    """Forget the loaded config, provider and breaker (tests, and services that re-init)."""
    global _runtime
    _runtime = _Runtime()
