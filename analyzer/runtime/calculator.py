"""The timeout calculator services call at startup: the exported config (or the seed's values),
the VPC state, and the seed's function names and return shapes."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from analyzer.runtime import defaults
from analyzer.runtime.breaker import BreakerState, CircuitBreaker
from analyzer.runtime.configfile import read_config_file
from analyzer.runtime.emitter import emit
from analyzer.runtime.schema import (
    OPERATIONS,
    VPC_STATES,
    ConfigError,
    RuntimeConfig,
    parse_config,
    shown,
    unknown_name,
)

TYPE_CHECKING = False  # typing costs the service's startup ~10 ms; only checkers need it
if TYPE_CHECKING:
    from typing import Any

    from analyzer.runtime.vpc import VpcMonitorSettings, VpcStateMonitor

CONFIG_ENV_VAR = "ANALYZER_TIMEOUT_CONFIG"
# Set to 1: a config that is set but cannot be used (unreadable, invalid, for another env)
# stops the service at first use instead of leaving it on the built-in defaults.
STRICT_ENV_VAR = "ANALYZER_STRICT_CONFIG"
SERVICE_ENV_VAR = "K_SERVICE"  # Cloud Run sets it in every container: the service's name
UNKNOWN = "unknown"
OPERATION_ALIASES = {"pool": "pool_checkout", "health": "health_check", "init": "initialization"}
# Distinct unknown names warned about per kind (state, operation, env) before one line says the
# rest go unnamed: a provider that returns a new name per call must not flood the logs or keep
# every name.
MAX_NAMED_WARNINGS = 5
# The seed's defaults kept per env name: a caller passing a new env per call must not keep a
# config per name (each is a few KB).
MAX_CACHED_DEFAULTS = 32
_KIND_NAMES = {"state": "VPC states", "operation": "operations", "env": "envs"}

log = logging.getLogger("analyzer.runtime")

VpcStateProvider = Callable[[], "str | None"]


class ConfigRefused(ConfigError):
    """Strict mode ($ANALYZER_STRICT_CONFIG=1): the config is set but this process cannot run
    it, so the service refuses to start rather than run the built-in defaults."""


class _Runtime:
    """The process-wide state: the loaded config, the VPC state provider, the breaker."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loaded: RuntimeConfig | None = None
        self.attempted = False
        self.defaults: dict[str, RuntimeConfig] = {}
        self.provider: VpcStateProvider | None = None
        self.breaker: CircuitBreaker | None = None
        self.breaker_env: str | None = None
        self.asked_env: str | None = None
        self.path: str | None = None
        self.sha256: str | None = None
        self.service: str | None = None
        # strict mode: why the set config cannot be used at all (every getter raises it)
        self.refusal: str | None = None
        # per kind, the names warned about (at most MAX_NAMED_WARNINGS); kinds past the limit
        self.warned: dict[str, set[str]] = {}
        self.hushed: set[str] = set()
        # (file, service) pairs already warned about a missing section: kept across reloads,
        # so a process says it once.
        self.sectionless: set[tuple[str, str]] = set()
        # The built-in VPC monitor, made on the first state lookup when it is wired.
        self.vpc_monitor: VpcStateMonitor | None = None
        self.vpc_checked = False


_runtime = _Runtime()
_FIRST_LOAD = threading.Lock()


def read_config(path: str | os.PathLike[str]) -> RuntimeConfig:
    """Read and check a config file; raises ConfigError on anything wrong with it."""
    location = os.fspath(path)
    return parse_config(read_config_file(location).document, source=location)


def _section(
    config: RuntimeConfig, path: str, service: str | None
) -> tuple[RuntimeConfig, str | None]:
    """The config as `service` runs it, and why not its own section when it has none."""
    if not service or not config.services:
        return config, None
    own = config.section(service)
    if own is not None:
        return own, None
    note = (
        f"no section for service {shown(service)} "
        f"(the file has {len(config.services)}); the env default timeouts are in force"
    )
    with _runtime.lock:
        first = (path, service) not in _runtime.sectionless
        _runtime.sectionless.add((path, service))
    if first:
        log.warning("timeout config %s has %s", path, note)
    return config, note


def strict_config() -> bool:
    """Whether $ANALYZER_STRICT_CONFIG asks a set but unusable config to stop the service."""
    return os.environ.get(STRICT_ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on")


def _served_env(env: str | None) -> str | None:
    """The env the process says it runs in: the argument, else $ENVIRONMENT (None: not said)."""
    chosen = env if isinstance(env, str) and env.strip() else os.environ.get("ENVIRONMENT")
    return chosen.strip().lower() if chosen and chosen.strip() else None


def _mismatch(config: RuntimeConfig, env: str) -> str:
    return (
        f"the config is for env {shown(config.env)}, not {shown(env)}; "
        f"{shown(env)} runs the built-in defaults"
    )


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    service: str | None = None,
    env: str | None = None,
) -> RuntimeConfig | None:
    """Load the config from `path`, else `$ANALYZER_TIMEOUT_CONFIG`, with the section of
    `service`, else `$K_SERVICE` (a service without one runs the env default, with one
    warning), for the env the process runs in (`env`, else `$ENVIRONMENT`; unsaid: the
    config's). A missing, unreadable or invalid config, or one for another env, logs one
    warning and the built-in defaults stay in force. Either way one `config_loaded` event says
    what the process runs with: its `outcome` is `loaded`, `section-missing` (the env default
    of the file), `env-mismatch` or `fallback` (built-in defaults). Never raises, unless
    $ANALYZER_STRICT_CONFIG=1 and the config is set but not used (`ConfigRefused`). The
    breaker keeps its state; only its settings change."""
    chosen = os.fspath(path) if path is not None else os.environ.get(CONFIG_ENV_VAR)
    name = (service if service is not None else os.environ.get(SERVICE_ENV_VAR) or "").strip()
    served = _served_env(env)
    config: RuntimeConfig | None = None
    digest: str | None = None
    error: str | None = None
    outcome = "fallback"
    if chosen:
        try:
            found = read_config_file(chosen)
            config = parse_config(found.document, source=chosen)
            digest = found.sha256
        except ConfigError as exc:
            error = str(exc)
            log.warning("timeout config %s not used (%s); using built-in defaults", chosen, exc)
        else:
            if served is not None and config.env.lower() != served:
                outcome, error = "env-mismatch", _mismatch(config, served)
                log.warning("timeout config %s not used: %s", chosen, error)
            else:
                config, error = _section(config, chosen, name.lower() or None)
                outcome = "section-missing" if error else "loaded"
    else:
        error = f"no config given (${CONFIG_ENV_VAR} is not set)"
    refusal = _refusal(chosen, error) if outcome in ("fallback", "env-mismatch") else None
    with _runtime.lock:
        _runtime.loaded, _runtime.attempted, _runtime.path = config, True, chosen
        _runtime.sha256, _runtime.service = digest, name or None
        _runtime.refusal = refusal if outcome == "fallback" else None
        _runtime.warned, _runtime.hushed = {}, set()
        _runtime.vpc_checked = False  # the monitor takes the new config's vpc block
        if outcome == "env-mismatch" and served is not None:
            _runtime.warned["env"] = {served}  # said here: the getters do not say it again
        breaker, breaker_env = _runtime.breaker, _runtime.breaker_env
    _emit_loaded(outcome, env=served or (config.env if config else None), error=error)
    if refusal is not None:
        raise ConfigRefused(refusal)
    if breaker is not None:
        breaker.update_settings(active_config(breaker_env or _service_env(None)).breaker)
    return config


def _refusal(chosen: str | None, error: str | None) -> str | None:
    """Strict mode's reason to stop a process whose set config is not used (None: go on)."""
    if not chosen or not strict_config():
        return None
    return (
        f"timeout config {chosen} not used ({error}); ${STRICT_ENV_VAR} is set, so the "
        "service does not start on the built-in defaults"
    )


def _emit_loaded(outcome: str, *, env: str | None, error: str | None) -> None:
    """The `config_loaded` event for the config the runtime holds now."""
    config = _runtime.loaded
    emit(
        "config_loaded",
        config_path=_runtime.path,
        env=env,
        service=_runtime.service,
        schema_version=config.schema_version if config else None,
        generated_at=config.generated_at if config else None,
        config_sha256=_runtime.sha256,
        run_id=config.run_id if config else None,
        outcome=outcome,
        error=error,
    )


reload_config = load_config


def _warn_once(kind: str, name: str, message: str, *args: object) -> bool:
    """Warn once per name of `kind`, for the first MAX_NAMED_WARNINGS names, then once that
    further names go unnamed. True when this call warned about `name`."""
    with _runtime.lock:
        seen = _runtime.warned.setdefault(kind, set())
        if name in seen:
            return False
        named = len(seen) < MAX_NAMED_WARNINGS
        if named:
            seen.add(name)
        elif kind in _runtime.hushed:
            return False
        else:
            _runtime.hushed.add(kind)
    if named:
        log.warning(message, *args)
    else:
        log.warning(
            "more than %d unknown %s; further ones are handled alike and not named until "
            "the config is reloaded",
            MAX_NAMED_WARNINGS,
            _KIND_NAMES.get(kind, kind),
        )
    return named


def _ensure_loaded(env: str | None = None) -> None:
    """The first load, for the env the caller asks for (None: $ENVIRONMENT's, if set)."""
    if not _runtime.attempted:
        with _FIRST_LOAD:  # threads starting at once: one load, one config_loaded event
            if not _runtime.attempted:
                load_config(env=env)


def active_config(env: str) -> RuntimeConfig:
    """The loaded config when it is for `env` (names match whatever their case), else the
    seed's values for `env`, with one warning naming both envs and a `config_loaded` event
    (`env-mismatch`) under `env`. In strict mode a set config that is not used raises
    `ConfigRefused` instead."""
    wanted = env.strip().lower() if isinstance(env, str) else str(env)
    _ensure_loaded(wanted)
    if _runtime.refusal is not None:
        raise ConfigRefused(_runtime.refusal)
    _runtime.asked_env = wanted
    loaded = _runtime.loaded
    if loaded is not None:
        if loaded.env.lower() == wanted:
            return loaded
        told = _warn_once(
            "env",
            wanted,
            "timeout config %s is for env %s, not %s; %s uses the built-in defaults",
            _runtime.path,
            shown(loaded.env),
            shown(wanted),
            shown(wanted),
        )
        if told:
            _emit_loaded("env-mismatch", env=wanted, error=_mismatch(loaded, wanted))
        refusal = _refusal(_runtime.path, _mismatch(loaded, wanted))
        if refusal is not None:
            raise ConfigRefused(refusal)
    found = _runtime.defaults.get(wanted)
    if found is None:
        found = defaults.default_config(wanted)
        with _runtime.lock:
            while len(_runtime.defaults) >= MAX_CACHED_DEFAULTS:
                del _runtime.defaults[next(iter(_runtime.defaults))]  # the oldest
            found = _runtime.defaults.setdefault(wanted, found)
    return found


def _service_env(env: str | None) -> str:
    """The env a call serves: its argument, else $ENVIRONMENT, else the env the timeout getters
    were asked for, else the loaded config's, else staging."""
    if env:
        return env.strip().lower()
    chosen = os.environ.get("ENVIRONMENT") or _runtime.asked_env
    if not chosen and _runtime.loaded is not None:
        chosen = _runtime.loaded.env
    return (chosen or "staging").strip().lower()


def register_vpc_state_provider(provider: VpcStateProvider | None) -> None:
    """A function the runtime calls for the current VPC connector state (None to forget it)."""
    _runtime.provider = provider


def current_vpc_state() -> str:
    """The VPC connector's state: the registered provider's, else the built-in monitor's
    (when wired), else `unknown`."""
    return vpc_state_and_source()[0]


def vpc_state_and_source() -> tuple[str, str]:
    """The VPC state and where it came from: `provider`, `monitor` or `none`."""
    provider = _runtime.provider
    if provider is None:
        monitor = get_vpc_state_monitor()
        return (monitor.state(), "monitor") if monitor is not None else (UNKNOWN, "none")
    try:
        state = provider()
    except Exception as exc:
        log.warning("VPC state provider failed (%s); treating the state as unknown", exc)
        return UNKNOWN, "provider"
    return (state if isinstance(state, str) and state else UNKNOWN), "provider"


def vpc_state_source() -> str:
    """Where the runtime's VPC state comes from now (no lookup): `provider`, `monitor` or
    `none`."""
    if _runtime.provider is not None:
        return "provider"
    return "monitor" if _runtime.vpc_monitor is not None else "none"


def vpc_monitor_settings(env: str | None = None) -> VpcMonitorSettings | None:
    """The built-in monitor's settings for the env served: the config's `vpc` block (when the
    loaded config is for that env) and `$ANALYZER_VPC_CONNECTOR`; None when it is not wired.
    Raises ConfigError for a connector name that is not one."""
    from analyzer.runtime import vpc

    _ensure_loaded()
    served = _service_env(env)
    loaded = _runtime.loaded
    block = loaded.vpc if loaded is not None and loaded.env.lower() == served else {}
    return vpc.monitor_settings({**defaults.VPC, **block})


def get_vpc_state_monitor() -> VpcStateMonitor | None:
    """The process's built-in VPC monitor (its thread starts on the first state lookup), or
    None when it is not wired (a bad `$ANALYZER_VPC_CONNECTOR` says so once)."""
    if _runtime.vpc_checked:
        return _runtime.vpc_monitor
    from analyzer.runtime import vpc

    try:
        settings = vpc_monitor_settings()
    except ConfigError as exc:
        _warn_once("vpc", "connector", "VPC monitor off: %s", exc)
        settings = None
    with _runtime.lock:
        if _runtime.vpc_checked:
            return _runtime.vpc_monitor
        monitor = _runtime.vpc_monitor
        if settings is None:
            if monitor is not None:
                monitor.stop()
            monitor = None
        elif monitor is None or monitor.settings != settings:
            if monitor is not None:
                monitor.stop()
            env = _service_env(None)
            monitor = vpc.VpcStateMonitor(settings, env=env, on_change=vpc.emit_state_change(env))
            log.info(
                "VPC monitor on: connector %s, refresh every %gs, unknown after %gs",
                settings.connector,
                settings.refresh_every_s,
                settings.stale_after_s,
            )
        _runtime.vpc_monitor, _runtime.vpc_checked = monitor, True
    return monitor


def _state(state: object) -> str:
    """A VPC state's contract name (any case); an unknown one, or one that is not a string, is
    `unknown`, with one warning."""
    if isinstance(state, str):
        name = state.strip().lower()
        if name in VPC_STATES:
            return name
        problem = unknown_name(state, VPC_STATES)
    else:
        name, problem = f"<{type(state).__name__}>", f"{shown(state)} is not a name"
    _warn_once("state", name, "VPC state %s; using the unknown state's timeout", problem)
    return UNKNOWN


def _vpc_state(vpc_state: object) -> str:
    """The state a lookup uses: the argument, else (None or empty) the registered provider's."""
    return _state(current_vpc_state() if vpc_state is None or vpc_state == "" else vpc_state)


def _operation(operation: object) -> str | None:
    """An operation's contract name (any case, or an alias); None for an unknown one, or one
    that is not a string, with one warning: the caller takes the most demanding known value."""
    if isinstance(operation, str):
        name = operation.strip().lower()
        name = OPERATION_ALIASES.get(name, name)
        if name in OPERATIONS:
            return name
        problem = unknown_name(operation, OPERATIONS)
    else:
        name, problem = f"<{type(operation).__name__}>", f"{shown(operation)} is not a name"
    _warn_once(
        "operation", name, "operation %s; using the most demanding known operation's value", problem
    )
    return None


def _timeout(config: RuntimeConfig, phase: int, operation: str | None, state: str) -> float | None:
    """The config's timeout for the phase, operation and state (`unknown`'s when the state has
    none); for an unknown operation (None), the largest over the known ones."""
    table = config.timeouts
    found = [
        value
        for op in ((operation,) if operation is not None else OPERATIONS)
        if (value := table.get((phase, op, state), table.get((phase, op, UNKNOWN)))) is not None
    ]
    return max(found) if found else None


def timeout_for(
    env: str, operation: str = "initialization", vpc_state: str | None = None, *, phase: int = 3
) -> float | None:
    """The configured timeout for the phase, operation and state; `unknown`'s when the state
    has none; the most demanding known operation's for an unknown operation; None when the
    config has nothing for the operation."""
    config = active_config(env)
    return _timeout(config, phase, _operation(operation), _vpc_state(vpc_state))


def get_database_timeout_config(env: str) -> dict[str, float]:
    """The base database timeouts (the seed's keys): for each operation, the smallest the
    config allows in any VPC state, so the capacity-aware timeout only ever adds to it."""
    config = active_config(env)
    return {key: _base_s(config, op) for key, op in defaults.TIMEOUT_KEYS.items()}


def _base_s(config: RuntimeConfig, operation: str | None) -> float:
    """A loaded config's smallest value for the database operation, else the seed's base; for
    an unknown operation (None), the largest of the known operations' bases."""
    if operation is None:
        return max(_base_s(config, op) for op in OPERATIONS)
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
    config = active_config(env)
    op = _operation(operation)
    base = _base_s(config, op)
    found = _timeout(config, defaults.DATABASE_PHASE, op, _vpc_state(vpc_state))
    return base if found is None or found < base else found


def _log_transition(before: BreakerState, after: BreakerState) -> None:
    emit(
        "breaker_transition",
        from_state=before.value,
        to_state=after.value,
        breaker_state=after.value,
    )


def _emit_summaries(summaries: list[dict[str, Any]]) -> None:
    env = _runtime.breaker_env
    source = vpc_state_source()
    for summary in summaries:
        emit("breaker_summary", env=env, vpc_state_source=source, **summary)


def _breaker_timeout_s(operation: str, vpc_state: str) -> float | None:
    """The timeout the config gives the database phase for the call's operation and state:
    what a call must stay under not to count as slow."""
    return timeout_for(_service_env(_runtime.breaker_env), operation, vpc_state)


def get_database_circuit_breaker(env: str | None = None) -> CircuitBreaker:
    """The process-wide breaker for the database, with the settings of the config the timeout
    getters use for the same env (`env`, else $ENVIRONMENT, else the env they were asked for).
    It counts calls under the registered VPC state provider's state, judges them slow against
    the config's timeout for their operation and state, and logs a `breaker_summary` event per
    operation and state every `summary_every_s` of the process's life and at exit."""
    served = _service_env(env)
    settings = active_config(served).breaker
    with _runtime.lock:
        breaker = _runtime.breaker
        if breaker is None:
            breaker = _runtime.breaker = CircuitBreaker.from_settings(
                settings,
                on_transition=_log_transition,
                on_summary=_emit_summaries,
                vpc_state_provider=current_vpc_state,
                timeout_provider=_breaker_timeout_s,
            )
            _runtime.breaker_env = served
            return breaker
        switch = env is not None and served != _runtime.breaker_env
        if switch:
            _runtime.breaker_env = served
    if switch:
        breaker.update_settings(settings)
    return breaker


def reset_runtime() -> None:
    """Forget the loaded config, provider and breaker (tests, and services that re-init); the
    breaker's last summaries are sent first."""
    global _runtime
    if _runtime.breaker is not None:
        _runtime.breaker.close()
    if _runtime.vpc_monitor is not None:
        _runtime.vpc_monitor.stop()
    _runtime = _Runtime()
