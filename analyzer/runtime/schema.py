"""The exported timeout config's format, read with the standard library only.

`analyzer.deploy.model` (pydantic) defines the same format for `analyze export`, `--check` and the
published JSON Schema, from the constants and the name check here; a property test feeds the same
documents to both and keeps them in agreement. The runtime cannot afford pydantic's import time
inside the startup it measures.
"""

from __future__ import annotations

import math

TYPE_CHECKING = False  # typing costs the service's startup ~10 ms; only checkers need it
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

SCHEMA_VERSION = 3  # what `analyze export` writes
SCHEMA_VERSIONS = (2, 3)  # what the runtime reads; per-service sections need 3
SERVICES_SINCE = 3
VPC_STATES = ("healthy", "scaling", "pressure", "critical", "unknown")
OPERATIONS = ("initialization", "connection", "pool_checkout", "health_check")
# Where a value came from: the window's evidence, the previous export, the runtime's built-in
# default, or (no evidence and nothing before it) the policy's ceiling.
VALUE_SOURCES = ("recommended", "previous", "default", "ceiling")
MAX_TIMEOUT_S = 240.0  # Cloud Run's startup limit, and the recommender's own ceiling
# The shortest timeout a config may set, and the lowest floor `recommend` takes (its default
# floor is 5 s): under a second no database call of a starting service completes, so such a
# value (`5e-324`, `0.001` for 1 ms) is a typo that would fail every startup.
MIN_TIMEOUT_S = 1.0
MAX_RECOVERY_TIMEOUT_S = 3600.0  # an hour: a breaker that waits longer is a mistake
MAX_SETTING = 3600.0  # pool and connector settings
MAX_FAILURE_THRESHOLD = 1000
MAX_HALF_OPEN_CALLS = 1000
BREAKER_MODES = ("consecutive", "rate")
MAX_WINDOW_CALLS = 10_000  # a count window's calls, and the minimum calls before a rate decision
MAX_BACKOFF_MULTIPLIER = 10.0
MAX_SLOW_CALL_S = 3600.0
MIN_SUMMARY_EVERY_S = 1.0  # more often floods the service's logs
MAX_SUMMARY_EVERY_S = 86400.0
# The breaker block's optional keys and their values when absent: the consecutive mode, no
# backoff, half-open waits as before, a summary a minute.
BREAKER_DEFAULTS: dict[str, Any] = {
    "mode": "consecutive",
    "window_calls": 20,
    "window_s": None,
    "minimum_calls": 10,
    "failure_rate_threshold": 0.5,
    "slow_call_rate_threshold": 1.0,
    "slow_call_s": None,
    "backoff_multiplier": 1.0,
    "max_recovery_timeout_s": None,
    "max_half_open_s": None,
    "summary_every_s": 60.0,
}
# The VPC monitor's optional settings (the config's `vpc` block) and their values when absent:
# a refresh every 30 s, a reading good for 90 s, 5 s per HTTP call and 12 s per refresh (so
# failing or hanging APIs read as unknown within 15 s), metrics of the last 10 minutes.
VPC_MONITOR_DEFAULTS: dict[str, float] = {
    "critical_cpu_threshold": 0.9,
    "refresh_every_s": 30.0,
    "stale_after_s": 90.0,
    "http_timeout_s": 5.0,
    "refresh_deadline_s": 12.0,
    "lookback_s": 600.0,
}
MIN_VPC_REFRESH_EVERY_S = 1.0  # more often spends the project's Monitoring API quota
MAX_VPC_WAIT_S = 15.0  # an HTTP call or a whole refresh: failing APIs read unknown within it
MAX_VPC_LOOKBACK_S = 86400.0
CONNECTOR_MAX_CHARS = 200
# The rule `connector_problem` checks, as the published JSON Schema states it.
CONNECTOR_PATTERN = (
    "^projects/[-_.A-Za-z0-9]+/locations/[-_.A-Za-z0-9]+/connectors/[-_.A-Za-z0-9]+$"
)
MAX_PHASE = 20
MAX_ENTRIES = 10_000
MAX_SERVICES = 1000
SERVICE_NAME_MAX_CHARS = 63  # Cloud Run's service names: a DNS label
# The rule `service_name_problem` checks, as the published JSON Schema states it.
SERVICE_NAME_PATTERN = "^[a-z]([-a-z0-9]*[a-z0-9])?$"
NAME_MAX_CHARS = 64
TEXT_MAX_CHARS = 64


class ConfigError(ValueError):
    """The config is not one this runtime can use; the message says where and why."""


class BreakerSettings:
    """The circuit breaker's settings: the three of the consecutive-failure mode, and the
    optional ones of the rate mode, backoff and summaries (absent in a config: these defaults,
    which behave as the consecutive mode always has). (Plain classes here, not dataclasses:
    importing dataclasses costs a service's startup ~10 ms.)"""

    __slots__ = (
        "failure_threshold",
        "half_open_max_calls",
        "recovery_timeout_s",
        *BREAKER_DEFAULTS,
    )

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_timeout_s: float = 30.0,
        half_open_max_calls: int = 1,
        *,
        mode: str = "consecutive",
        window_calls: int = 20,
        window_s: float | None = None,
        minimum_calls: int = 10,
        failure_rate_threshold: float = 0.5,
        slow_call_rate_threshold: float = 1.0,
        slow_call_s: float | None = None,
        backoff_multiplier: float = 1.0,
        max_recovery_timeout_s: float | None = None,
        max_half_open_s: float | None = None,
        summary_every_s: float | None = 60.0,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.recovery_timeout_s = recovery_timeout_s
        self.half_open_max_calls = half_open_max_calls
        self.mode = mode
        self.window_calls = window_calls
        self.window_s = window_s
        self.minimum_calls = minimum_calls
        self.failure_rate_threshold = failure_rate_threshold
        self.slow_call_rate_threshold = slow_call_rate_threshold
        self.slow_call_s = slow_call_s
        self.backoff_multiplier = backoff_multiplier
        self.max_recovery_timeout_s = max_recovery_timeout_s
        self.max_half_open_s = max_half_open_s
        self.summary_every_s = summary_every_s

    def options(self) -> dict[str, Any]:
        """The optional settings that differ from their defaults, as a config block holds them."""
        return {
            name: getattr(self, name)
            for name, default in BREAKER_DEFAULTS.items()
            if getattr(self, name) != default
        }

    def __repr__(self) -> str:
        extra = "".join(f", {name}={value!r}" for name, value in self.options().items())
        return (
            f"BreakerSettings({self.failure_threshold}, {self.recovery_timeout_s}, "
            f"{self.half_open_max_calls}{extra})"
        )


class RuntimeConfig:
    """What the runtime needs of a config: timeouts keyed by (phase, operation, vpc_state),
    and per (phase, operation) the smallest of them: the base the seed never goes below.
    `services` holds each per-service section's own timeouts; `service` names the section
    merged into `timeouts` (None: the env default)."""

    __slots__ = (
        "base",
        "breaker",
        "env",
        "generated_at",
        "pool",
        "run_id",
        "schema_version",
        "service",
        "services",
        "source",
        "timeouts",
        "vpc",
    )

    def __init__(
        self,
        env: str,
        timeouts: dict[tuple[int, str, str], float] | None = None,
        breaker: BreakerSettings | None = None,
        pool: dict[str, float] | None = None,
        vpc: dict[str, float | bool | str] | None = None,
        source: str = "built-in defaults",
        generated_at: str | None = None,
        run_id: str | None = None,
        services: dict[str, dict[tuple[int, str, str], float]] | None = None,
        service: str | None = None,
        schema_version: int = SCHEMA_VERSION,
    ) -> None:
        self.env = env
        self.timeouts = dict(timeouts or {})
        self.services = dict(services or {})
        self.service = service
        self.schema_version = schema_version
        self.breaker = breaker or BreakerSettings()
        self.pool = dict(pool or {})
        self.vpc = dict(vpc or {})
        self.source = source
        self.generated_at = generated_at
        self.run_id = run_id
        self.base: dict[tuple[int, str], float] = {}
        for (phase, operation, _), seconds in self.timeouts.items():
            key = (phase, operation)
            self.base[key] = min(seconds, self.base.get(key, seconds))

    def section(self, service: str) -> RuntimeConfig | None:
        """The config as `service` runs it: its section's timeouts over the env default's (a
        key the section leaves out keeps the default's value); None when it has no section.
        Names match whatever their case."""
        own = self.services.get(service.strip().lower())
        if own is None:
            return None
        return RuntimeConfig(
            env=self.env,
            timeouts={**self.timeouts, **own},
            breaker=self.breaker,
            pool=self.pool,
            vpc=self.vpc,
            source=self.source,
            generated_at=self.generated_at,
            run_id=self.run_id,
            services=self.services,
            service=service.strip().lower(),
            schema_version=self.schema_version,
        )


def shown(value: Any) -> str:
    """A value as a message may show it: short text as itself (cut), anything else by its type
    name only, so a hostile document (a YAML alias bomb) is never formatted."""
    if isinstance(value, str):
        return repr(value[:TEXT_MAX_CHARS] + ("..." if len(value) > TEXT_MAX_CHARS else ""))
    if isinstance(value, bool | int | float) or value is None:
        text = repr(value)
        return text if len(text) <= TEXT_MAX_CHARS else f"an integer of {len(text)} digits"
    return f"a {type(value).__name__}"


def unknown_name(value: str, choices: tuple[str, ...]) -> str:
    """The message for a name that is not one of `choices`, with the closest as a suggestion."""
    import difflib  # only on the error path

    close = difflib.get_close_matches(value.lower(), choices, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {shown(value)}{hint} (expected one of {', '.join(choices)})"


def _number(value: Any, where: str, *, low: float, high: float, low_open: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: expected a number, got {shown(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ConfigError(f"{where}: must be finite, got {shown(value)}")
    if number < low or (low_open and number == low) or number > high:
        bound = ">" if low_open else ">="
        raise ConfigError(f"{where}: must be {bound} {low:g} and <= {high:g}, got {shown(value)}")
    return number


def _integer(value: Any, where: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: expected an integer, got {shown(value)}")
    if not low <= value <= high:
        raise ConfigError(f"{where}: must be between {low} and {high}, got {shown(value)}")
    return value


def _text(value: Any, where: str, limit: int = NAME_MAX_CHARS) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise ConfigError(f"{where}: expected a text of 1 to {limit} characters")
    return value


def _choice(value: Any, where: str, choices: tuple[str, ...]) -> str:
    name = _text(value, where)
    if name not in choices:
        raise ConfigError(f"{where}: {unknown_name(name, choices)}")
    return name


def _mapping(value: Any, where: str, allowed: set[str] | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected an object, got {shown(value)}")
    if allowed is not None:
        unknown = sorted(str(key) for key in value if key not in allowed)
        if unknown:
            suggestion = unknown_name(unknown[0], tuple(sorted(allowed)))
            raise ConfigError(f"{where}: key {suggestion}")
    return value


TOP_KEYS = {
    "schema_version",
    "env",
    "timeouts",
    "services",
    "breaker",
    "pool",
    "vpc",
    "provenance",
}
SECTION_KEYS = {"timeouts"}
ENTRY_KEYS = {"phase", "operation", "vpc_state", "timeout_s", "source", "derived_from"}
BREAKER_KEYS = {"failure_threshold", "recovery_timeout_s", "half_open_max_calls", *BREAKER_DEFAULTS}
POOL_KEYS = {"pool_size", "max_overflow", "pool_timeout", "capacity_safety_margin"}
VPC_FLAGS = {"monitoring_enabled", "capacity_aware_timeouts"}
VPC_KEYS = {
    *VPC_FLAGS,
    "capacity_pressure_threshold",
    "scaling_buffer_timeout",
    "connector",
    *VPC_MONITOR_DEFAULTS,
}
PROVENANCE_TEXTS = {"run_id", "generated_at", "window_start", "window_end"}
PROVENANCE_KEYS = {*PROVENANCE_TEXTS, "overrides", "attempts", "service_attempts"}


def service_name_problem(name: str) -> str | None:
    """Why `name` is not a Cloud Run service name (lowercase letters, digits and hyphens, a
    letter first, no hyphen last, at most 63 characters), or None when it is one."""
    if not 0 < len(name) <= SERVICE_NAME_MAX_CHARS:
        return f"a service name has 1 to {SERVICE_NAME_MAX_CHARS} characters"
    allowed = "abcdefghijklmnopqrstuvwxyz0123456789-"
    if not ("a" <= name[0] <= "z") or name[-1] == "-" or any(c not in allowed for c in name):
        return (
            f"{shown(name)} is not a service name (lowercase letters, digits and hyphens, "
            "a letter first, no hyphen last)"
        )
    return None


_CONNECTOR_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def connector_problem(name: str) -> str | None:
    """Why `name` is not a connector's resource name
    (`projects/P/locations/REGION/connectors/NAME`), or None when it is one."""
    parts = name.split("/")
    good = (
        len(name) <= CONNECTOR_MAX_CHARS
        and len(parts) == 6
        and (parts[0], parts[2], parts[4]) == ("projects", "locations", "connectors")
        and all(parts[i] and all(c in _CONNECTOR_CHARS for c in parts[i]) for i in (1, 3, 5))
    )
    if good:
        return None
    return f"VPC connector {shown(name)} is not projects/PROJECT/locations/REGION/connectors/NAME"


def check_vpc_monitor(block: dict[str, Any], where: str = "vpc.") -> dict[str, Any]:
    """The rules for the VPC monitor's settings in a config's `vpc` block: the given ones
    checked, numbers as floats."""
    checks: dict[str, Callable[[Any, str], Any]] = {
        "critical_cpu_threshold": lambda v, w: _number(v, w, low=0.0, high=1.0),
        "refresh_every_s": lambda v, w: _number(
            v, w, low=MIN_VPC_REFRESH_EVERY_S, high=MAX_SETTING, low_open=False
        ),
        "stale_after_s": lambda v, w: _number(v, w, low=0.0, high=MAX_VPC_LOOKBACK_S),
        "http_timeout_s": lambda v, w: _number(v, w, low=0.0, high=MAX_VPC_WAIT_S),
        "refresh_deadline_s": lambda v, w: _number(v, w, low=0.0, high=MAX_VPC_WAIT_S),
        "lookback_s": lambda v, w: _number(v, w, low=60.0, high=MAX_VPC_LOOKBACK_S, low_open=False),
    }
    checked = {
        name: check(block[name], f"{where}{name}")
        for name, check in checks.items()
        if name in block
    }
    if "connector" in block:
        connector = block["connector"]
        if not isinstance(connector, str):
            raise ConfigError(f"{where}connector: expected a text, got {shown(connector)}")
        problem = connector_problem(connector)
        if problem:
            raise ConfigError(f"{where}connector: {problem}")
        checked["connector"] = connector
    every = checked.get("refresh_every_s", VPC_MONITOR_DEFAULTS["refresh_every_s"])
    stale = checked.get("stale_after_s", VPC_MONITOR_DEFAULTS["stale_after_s"])
    if stale <= every:
        raise ConfigError(
            f"{where}stale_after_s: must be more than refresh_every_s ({every:g}), got {stale:g}"
        )
    return checked


def _service_name(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a text, got {shown(value)}")
    problem = service_name_problem(value)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    return value


def _entry(raw: Any, where: str) -> tuple[tuple[int, str, str], float]:
    entry = _mapping(raw, where, ENTRY_KEYS)
    key = (
        _integer(entry.get("phase"), f"{where}.phase", low=1, high=MAX_PHASE),
        _choice(entry.get("operation"), f"{where}.operation", OPERATIONS),
        _choice(entry.get("vpc_state"), f"{where}.vpc_state", VPC_STATES),
    )
    if "source" in entry:
        _choice(entry["source"], f"{where}.source", VALUE_SOURCES)
    if "derived_from" in entry:
        _choice(entry["derived_from"], f"{where}.derived_from", VPC_STATES)
    seconds = _number(
        entry.get("timeout_s"),
        f"{where}.timeout_s",
        low=MIN_TIMEOUT_S,
        high=MAX_TIMEOUT_S,
        low_open=False,
    )
    return key, seconds


def _each(
    raw: Any,
    where: str,
    limit: int,
    name_check: Callable[[Any, str], Any],
    value_check: Callable[[Any, str], Any],
) -> dict[str, Any]:
    """An object of at most `limit` keys, each key and value checked: the checks' results."""
    values = _mapping(raw, where, None)
    if len(values) > limit:
        raise ConfigError(f"{where}: more than {limit} entries")
    checked = {}
    for name, value in values.items():
        name_check(name, f"{where}: a key")
        checked[name] = value_check(value, f"{where}.{name}")
    return checked


def _count(value: Any, where: str) -> int:
    return _integer(value, where, low=0, high=2**53)


def _counts(value: Any, where: str) -> dict[str, Any]:
    return _each(value, where, MAX_ENTRIES, _text, _count)


def _provenance(raw: Any) -> dict[str, str]:
    block = _mapping(raw, "provenance", PROVENANCE_KEYS)
    texts = {}
    for name in sorted(PROVENANCE_TEXTS & set(block)):
        texts[name] = _text(block[name], f"provenance.{name}")
    if "overrides" in block:
        _each(block["overrides"], "provenance.overrides", MAX_ENTRIES, _text, _text)
    if "attempts" in block:
        _counts(block["attempts"], "provenance.attempts")
    if "service_attempts" in block:
        where = "provenance.service_attempts"
        _each(block["service_attempts"], where, MAX_SERVICES, _service_name, _counts)
    return texts


def check_breaker_options(
    options: dict[str, Any], recovery_timeout_s: float, where: str = ""
) -> dict[str, Any]:
    """The rules for the breaker's optional settings, for a config's block and for a breaker
    made in code alike: the given ones (None: absent) checked, numbers as floats; `where`
    prefixes the names in messages ("breaker." in a config)."""
    checks: dict[str, Callable[[Any, str], Any]] = {
        "mode": lambda v, w: _choice(v, w, BREAKER_MODES),
        "window_calls": lambda v, w: _integer(v, w, low=1, high=MAX_WINDOW_CALLS),
        "window_s": lambda v, w: _number(v, w, low=0.0, high=MAX_RECOVERY_TIMEOUT_S),
        "minimum_calls": lambda v, w: _integer(v, w, low=1, high=MAX_WINDOW_CALLS),
        "failure_rate_threshold": lambda v, w: _number(v, w, low=0.0, high=1.0),
        "slow_call_rate_threshold": lambda v, w: _number(v, w, low=0.0, high=1.0),
        "slow_call_s": lambda v, w: _number(v, w, low=0.0, high=MAX_SLOW_CALL_S),
        "backoff_multiplier": lambda v, w: _number(
            v, w, low=1.0, high=MAX_BACKOFF_MULTIPLIER, low_open=False
        ),
        "max_recovery_timeout_s": lambda v, w: _number(v, w, low=0.0, high=MAX_RECOVERY_TIMEOUT_S),
        "max_half_open_s": lambda v, w: _number(v, w, low=0.0, high=MAX_RECOVERY_TIMEOUT_S),
        "summary_every_s": lambda v, w: _number(
            v, w, low=MIN_SUMMARY_EVERY_S, high=MAX_SUMMARY_EVERY_S, low_open=False
        ),
    }
    checked = {
        name: check(options[name], f"{where}{name}")
        for name, check in checks.items()
        if options.get(name) is not None
    }
    cap = checked.get("max_recovery_timeout_s")
    if cap is not None and cap < recovery_timeout_s:
        raise ConfigError(
            f"{where}max_recovery_timeout_s: must be at least recovery_timeout_s "
            f"({recovery_timeout_s:g}), got {shown(cap)}"
        )
    return checked


def check_breaker_counts(
    failure_threshold: Any, recovery_timeout_s: Any, half_open_max_calls: Any, where: str = ""
) -> tuple[int, float, int]:
    """The rules for the breaker's three required settings, for a config's block and for a
    breaker made in code alike (`where` as in check_breaker_options)."""
    return (
        _integer(failure_threshold, f"{where}failure_threshold", low=1, high=MAX_FAILURE_THRESHOLD),
        _number(
            recovery_timeout_s, f"{where}recovery_timeout_s", low=0.0, high=MAX_RECOVERY_TIMEOUT_S
        ),
        _integer(
            half_open_max_calls, f"{where}half_open_max_calls", low=1, high=MAX_HALF_OPEN_CALLS
        ),
    )


def _breaker(raw: Any) -> BreakerSettings:
    block = _mapping(raw, "breaker", BREAKER_KEYS)
    threshold, recovery_timeout_s, probes = check_breaker_counts(
        block.get("failure_threshold"),
        block.get("recovery_timeout_s"),
        block.get("half_open_max_calls"),
        "breaker.",
    )
    options = {name: block[name] for name in BREAKER_DEFAULTS if name in block}
    for name, value in options.items():
        if value is None:
            raise ConfigError(f"breaker.{name}: null is not allowed (leave the key out)")
    checked = check_breaker_options(options, recovery_timeout_s, "breaker.")
    return BreakerSettings(
        failure_threshold=threshold,
        recovery_timeout_s=recovery_timeout_s,
        half_open_max_calls=probes,
        **checked,
    )


def _timeouts(entries: Any, where: str) -> dict[tuple[int, str, str], float]:
    if not isinstance(entries, list) or not 0 < len(entries) <= MAX_ENTRIES:
        raise ConfigError(f"{where}: expected a list of 1 to {MAX_ENTRIES} entries")
    timeouts: dict[tuple[int, str, str], float] = {}
    for index, raw in enumerate(entries):
        key, seconds = _entry(raw, f"{where}[{index}]")
        if key in timeouts:
            raise ConfigError(
                f"{where}[{index}]: a second entry for phase {key[0]} {key[1]} {key[2]}"
            )
        timeouts[key] = seconds
    return timeouts


def _section(raw: Any, where: str) -> dict[tuple[int, str, str], float]:
    return _timeouts(_mapping(raw, where, SECTION_KEYS).get("timeouts"), f"{where}.timeouts")


def _services(raw: Any, version: int) -> dict[str, dict[tuple[int, str, str], float]]:
    """The per-service sections: each service's own timeouts (schema_version 3)."""
    if version < SERVICES_SINCE:
        raise ConfigError(f"services: per-service sections need schema_version {SERVICES_SINCE}")
    return _each(raw, "services", MAX_SERVICES, _service_name, _section)


def parse_config(data: Any, source: str = "config") -> RuntimeConfig:
    """Check a decoded config document and turn it into a RuntimeConfig, or raise ConfigError.
    Its `timeouts` are the env default's; `section(name)` gives a service's."""
    top = _mapping(data, "config", TOP_KEYS)
    version = top.get("schema_version")
    if isinstance(version, bool) or version not in SCHEMA_VERSIONS:
        raise ConfigError(
            f"schema_version: expected one of {', '.join(map(str, SCHEMA_VERSIONS))}, "
            f"got {shown(version)} (export the config again with this version of analyzer)"
        )
    env = _text(top.get("env"), "env")
    timeouts = _timeouts(top.get("timeouts"), "timeouts")
    services = _services(top["services"], version) if "services" in top else {}
    breaker = _breaker(top.get("breaker"))
    pool: dict[str, float] = {}
    if "pool" in top:
        for name, value in _mapping(top["pool"], "pool", POOL_KEYS).items():
            pool[name] = _number(value, f"pool.{name}", low=0.0, high=MAX_SETTING, low_open=False)
    vpc: dict[str, float | bool | str] = {}
    if "vpc" in top:
        block = _mapping(top["vpc"], "vpc", VPC_KEYS)
        vpc.update(check_vpc_monitor(block))
        for name, value in block.items():
            if name in vpc:
                continue
            if name in VPC_FLAGS:
                if not isinstance(value, bool):
                    raise ConfigError(f"vpc.{name}: expected true or false")
                vpc[name] = value
            else:
                vpc[name] = _number(value, f"vpc.{name}", low=0.0, high=MAX_SETTING, low_open=False)
    provenance = _provenance(top["provenance"]) if "provenance" in top else {}
    return RuntimeConfig(
        env=env,
        timeouts=timeouts,
        breaker=breaker,
        pool=pool,
        vpc=vpc,
        source=source,
        generated_at=provenance.get("generated_at"),
        run_id=provenance.get("run_id"),
        services=services,
        schema_version=int(version),
    )
