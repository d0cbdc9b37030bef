"""The exported timeout config, defined once as pydantic models: what `analyze export` writes,
what `analyze export --check`, `backtest --config` and `report` validate, and the published JSON
Schema.

The format's numbers (bounds, names, version) and its name check come from
`analyzer.runtime.schema`, which reads the same files inside services with the standard library
only; a property test feeds the same documents to both and keeps them in agreement.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from analyzer.errors import AnalyzerError
from analyzer.runtime import schema as limits
from analyzer.runtime.configfile import read_config_file
from analyzer.runtime.envfile import to_env_lines
from analyzer.runtime.schema import BreakerSettings, ConfigError, unknown_name


def _known(choices: tuple[str, ...]) -> BeforeValidator:
    def check(value: Any) -> Any:
        known = not isinstance(value, str) or value in choices
        if not known and 0 < len(value) <= limits.NAME_MAX_CHARS:
            raise ValueError(unknown_name(value, choices))
        return value

    return BeforeValidator(check)


Text = Annotated[
    str, StringConstraints(strict=True, min_length=1, max_length=limits.NAME_MAX_CHARS)
]
VpcState = Annotated[Literal[limits.VPC_STATES], _known(limits.VPC_STATES)]  # type: ignore[valid-type]
Operation = Annotated[Literal[limits.OPERATIONS], _known(limits.OPERATIONS)]  # type: ignore[valid-type]
ValueSource = Annotated[Literal[limits.VALUE_SOURCES], _known(limits.VALUE_SOURCES)]  # type: ignore[valid-type]


def _rule(problem_of: Callable[[str], str | None]) -> AfterValidator:
    """A name's check from the runtime's rule (which says what is wrong, or None)."""

    def check(value: str) -> str:
        problem = problem_of(value)
        if problem:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


ServiceName = Annotated[
    str,
    StringConstraints(strict=True),
    _rule(limits.service_name_problem),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": limits.SERVICE_NAME_PATTERN,
            "minLength": 1,
            "maxLength": limits.SERVICE_NAME_MAX_CHARS,
        }
    ),
]
Setting = Annotated[float, Field(ge=0, le=limits.MAX_SETTING, allow_inf_nan=False, strict=True)]


class _Strict(BaseModel):
    """No unknown keys, and no explicit nulls (a key is given with a value, or left out)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = [str(key) for key, value in data.items() if value is None]
            if nulls:
                raise ValueError(f"{nulls[0]}: null is not allowed (leave the key out)")
        return data


class ConfigTimeout(_Strict):
    phase: int = Field(ge=1, le=limits.MAX_PHASE, strict=True)
    operation: Operation
    vpc_state: VpcState
    timeout_s: float = Field(
        ge=limits.MIN_TIMEOUT_S, le=limits.MAX_TIMEOUT_S, allow_inf_nan=False, strict=True
    )
    source: ValueSource | None = Field(
        None,
        description="Where the value came from: recommended (the window's evidence), previous "
        "(carried over from the previous export), default (the runtime's built-in value), "
        "ceiling (no evidence and nothing before it).",
    )
    derived_from: VpcState | None = Field(None, description="For `unknown`: the state it copies.")


Rate = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False, strict=True)]
BreakerSeconds = Annotated[
    float, Field(gt=0, le=limits.MAX_RECOVERY_TIMEOUT_S, allow_inf_nan=False, strict=True)
]
WindowCount = Annotated[int, Field(ge=1, le=limits.MAX_WINDOW_CALLS, strict=True)]
BreakerMode = Annotated[Literal[limits.BREAKER_MODES], _known(limits.BREAKER_MODES)]  # type: ignore[valid-type]


class ConfigBreaker(_Strict):
    """The runtime breaker's settings; every key after the first three is optional (left out:
    the defaults in analyzer.runtime.schema.BREAKER_DEFAULTS, the consecutive mode as before)."""

    failure_threshold: int = Field(ge=1, le=limits.MAX_FAILURE_THRESHOLD, strict=True)
    recovery_timeout_s: float = Field(
        gt=0, le=limits.MAX_RECOVERY_TIMEOUT_S, allow_inf_nan=False, strict=True
    )
    half_open_max_calls: int = Field(ge=1, le=limits.MAX_HALF_OPEN_CALLS, strict=True)
    mode: BreakerMode | None = Field(
        None,
        description="consecutive: failure_threshold failures in a row open it; rate: failure "
        "and slow-call rates over a sliding window do.",
    )
    window_calls: WindowCount | None = Field(
        None, description="Rate mode: the count-based window's size in calls (default 20)."
    )
    window_s: BreakerSeconds | None = Field(
        None, description="Rate mode: a time-based window over this many seconds instead."
    )
    minimum_calls: WindowCount | None = Field(
        None, description="Rate mode: calls in the window before a rate decides (default 10)."
    )
    failure_rate_threshold: Rate | None = Field(
        None, description="Rate mode: a failure rate at or over this opens it (default 0.5)."
    )
    slow_call_rate_threshold: Rate | None = Field(
        None, description="Rate mode: a slow-call rate at or over this opens it (1.0: off)."
    )
    slow_call_s: float | None = Field(
        None,
        gt=0,
        le=limits.MAX_SLOW_CALL_S,
        allow_inf_nan=False,
        strict=True,
        description="A call over this is slow; left out: over its phase and state's timeout.",
    )
    backoff_multiplier: float | None = Field(
        None,
        ge=1,
        le=limits.MAX_BACKOFF_MULTIPLIER,
        allow_inf_nan=False,
        strict=True,
        description="Each re-open after a failed half-open period multiplies the OPEN wait.",
    )
    max_recovery_timeout_s: BreakerSeconds | None = Field(
        None, description="The longest OPEN wait backoff reaches (at least recovery_timeout_s)."
    )
    max_half_open_s: BreakerSeconds | None = Field(
        None, description="The longest stay in HALF_OPEN without an outcome."
    )
    summary_every_s: float | None = Field(
        None,
        ge=limits.MIN_SUMMARY_EVERY_S,
        le=limits.MAX_SUMMARY_EVERY_S,
        allow_inf_nan=False,
        strict=True,
        description="How often the runtime logs a breaker_summary event (default 60).",
    )

    @model_validator(mode="after")
    def _cap_at_least_the_wait(self) -> ConfigBreaker:
        cap = self.max_recovery_timeout_s
        if cap is not None and cap < self.recovery_timeout_s:
            raise ValueError(
                "max_recovery_timeout_s: must be at least recovery_timeout_s "
                f"({self.recovery_timeout_s:g})"
            )
        return self

    def settings(self) -> BreakerSettings:
        """The runtime's reading of this block (the defaults for keys left out)."""
        given = self.model_dump(exclude_none=True)
        return BreakerSettings(**given)


class ConfigPool(_Strict):
    pool_size: Setting | None = None
    max_overflow: Setting | None = None
    pool_timeout: Setting | None = None
    capacity_safety_margin: Setting | None = None


Connector = Annotated[
    str,
    StringConstraints(strict=True),
    _rule(limits.connector_problem),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": limits.CONNECTOR_PATTERN,
            "maxLength": limits.CONNECTOR_MAX_CHARS,
        }
    ),
]
VpcWait = Annotated[float, Field(gt=0, le=limits.MAX_VPC_WAIT_S, allow_inf_nan=False, strict=True)]


def _bounded(
    description: str, *, le: float, gt: float | None = None, ge: float | None = None
) -> Any:
    """An optional finite number within the bounds (pydantic's gt/ge/le)."""
    return Field(
        None, gt=gt, ge=ge, le=le, allow_inf_nan=False, strict=True, description=description
    )


class ConfigVpc(_Strict):
    monitoring_enabled: bool | None = Field(None, strict=True)
    capacity_aware_timeouts: bool | None = Field(None, strict=True)
    capacity_pressure_threshold: Setting | None = Field(
        None, description="The VPC monitor's pressure state: CPU utilisation at or over it."
    )
    scaling_buffer_timeout: Setting | None = None
    connector: Connector | None = Field(
        None,
        description="The VPC monitor's connector, projects/P/locations/REGION/connectors/NAME "
        "($ANALYZER_VPC_CONNECTOR overrides it).",
    )
    critical_cpu_threshold: Rate | None = Field(
        None, description="The critical state: at max instances with CPU at or over it (0.9)."
    )
    refresh_every_s: float | None = _bounded(
        "How often the monitor reads the connector (30).",
        ge=limits.MIN_VPC_REFRESH_EVERY_S,
        le=limits.MAX_SETTING,
    )
    stale_after_s: float | None = _bounded(
        "A reading older than this reads as unknown (90).", gt=0, le=limits.MAX_VPC_LOOKBACK_S
    )
    http_timeout_s: VpcWait | None = Field(None, description="Each HTTP call's timeout (5).")
    refresh_deadline_s: VpcWait | None = Field(
        None, description="A refresh running longer reads as unknown (12)."
    )
    lookback_s: float | None = _bounded(
        "The metrics' window (600).", ge=60, le=limits.MAX_VPC_LOOKBACK_S
    )

    @model_validator(mode="after")
    def _stale_after_a_refresh(self) -> ConfigVpc:
        try:
            limits.check_vpc_monitor(self.model_dump(exclude_none=True))
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self


def _one_entry_per_key(timeouts: list[ConfigTimeout], where: str) -> None:
    seen: set[tuple[int, str, str]] = set()
    for index, entry in enumerate(timeouts):
        key = (entry.phase, entry.operation, entry.vpc_state)
        if key in seen:
            raise ValueError(f"{where}[{index}]: a second entry for {key}")
        seen.add(key)


def _ordered(timeouts: list[ConfigTimeout]) -> list[ConfigTimeout]:
    order = {state: i for i, state in enumerate(limits.VPC_STATES)}
    ops = {op: i for i, op in enumerate(limits.OPERATIONS)}
    return sorted(timeouts, key=lambda t: (t.phase, ops[t.operation], order[t.vpc_state]))


class ConfigSection(_Strict):
    """One service's timeouts; a key it leaves out takes the env default's value."""

    timeouts: list[ConfigTimeout] = Field(min_length=1, max_length=limits.MAX_ENTRIES)

    @model_validator(mode="after")
    def _one_entry_per_key(self) -> ConfigSection:
        _one_entry_per_key(self.timeouts, "timeouts")
        return self


Counts = dict[Text, Annotated[int, Field(ge=0, le=2**53, strict=True)]]


class ConfigProvenance(_Strict):
    """Where the numbers came from; changes with every run, so it stands in one block."""

    run_id: Text | None = None
    generated_at: Text | None = None
    window_start: Text | None = None
    window_end: Text | None = None
    overrides: dict[Text, Text] | None = Field(
        None,
        max_length=limits.MAX_ENTRIES,
        description="Window and policy settings of the run "
        "that differ from the env's standing ones.",
    )
    attempts: Counts | None = Field(
        None,
        max_length=limits.MAX_ENTRIES,
        description="Attempts behind each value, by `phase/operation/vpc_state`.",
    )
    service_attempts: (
        dict[ServiceName, Annotated[Counts, Field(max_length=limits.MAX_ENTRIES)]] | None
    ) = Field(
        None,
        max_length=limits.MAX_SERVICES,
        description="Attempts behind each service section's values, by service, then "
        "`phase/operation/vpc_state`.",
    )


class TimeoutConfig(_Strict):
    """Timeouts per phase, operation and VPC state, and the breaker settings, for one env: the
    env default in `timeouts`, each service's own in `services` (schema_version 3)."""

    schema_version: Literal[limits.SCHEMA_VERSIONS]  # type: ignore[valid-type]
    env: Text
    timeouts: list[ConfigTimeout] = Field(
        min_length=1,
        max_length=limits.MAX_ENTRIES,
        description="The env default: what a service without a section of its own runs.",
    )
    services: dict[ServiceName, ConfigSection] | None = Field(
        None,
        max_length=limits.MAX_SERVICES,
        description="Per-service sections by Cloud Run service name (the runtime picks one by "
        "its `service=` argument, else $K_SERVICE).",
    )
    breaker: ConfigBreaker
    pool: ConfigPool | None = None
    vpc: ConfigVpc | None = None
    provenance: ConfigProvenance | None = None

    @model_validator(mode="after")
    def _one_entry_per_key(self) -> TimeoutConfig:
        _one_entry_per_key(self.timeouts, "timeouts")
        if self.services is not None and self.schema_version < limits.SERVICES_SINCE:
            raise ValueError(
                f"services: per-service sections need schema_version {limits.SERVICES_SINCE}"
            )
        return self

    def document(self) -> dict[str, Any]:
        """The file's content as plain data (None left out), timeouts in a fixed order and
        services by name."""
        update: dict[str, Any] = {"timeouts": _ordered(self.timeouts)}
        if self.services is not None:
            update["services"] = {
                name: ConfigSection(timeouts=_ordered(self.services[name].timeouts))
                for name in sorted(self.services)
            }
        return self.model_copy(update=update).model_dump(mode="json", exclude_none=True)


def describe_config(config: TimeoutConfig) -> str:
    """What a checked file holds, in one line: its env, the default's size, its sections."""
    text = f"valid config for env {config.env}, {len(config.timeouts)} timeouts"
    sections = config.services or {}
    if not sections:
        return f"{text} (schema_version {config.schema_version}, no per-service sections)"
    listed = ", ".join(f"{name} ({len(s.timeouts)})" for name, s in sorted(sections.items()))
    return f"{text} in the env default, {len(sections)} service section(s): {listed}"


def render_config(config: TimeoutConfig, fmt: str) -> str:
    document = config.document()
    if fmt == "yaml":
        import yaml

        return str(yaml.safe_dump(document, sort_keys=False))
    if fmt == "env":
        return to_env_lines(document)
    return json.dumps(document, indent=2) + "\n"


_KEYS = tuple(
    sorted(
        limits.TOP_KEYS
        | limits.ENTRY_KEYS
        | limits.SECTION_KEYS
        | limits.BREAKER_KEYS
        | limits.POOL_KEYS
        | limits.VPC_KEYS
        | limits.PROVENANCE_KEYS
    )
)


def _problem(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"])[:200] or "config"
    if error["type"] == "extra_forbidden" and error["loc"]:
        import difflib

        close = difflib.get_close_matches(str(error["loc"][-1])[:200], _KEYS, n=1)
        return f"{where}: unknown key" + (f"; did you mean {close[0]!r}?" if close else "")
    return f"{where}: {error['msg'][:300]}"


def validate_document(document: Any, where: str) -> TimeoutConfig:
    """The config in a decoded document, or one error listing every problem with its path."""
    try:
        return TimeoutConfig.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            _problem(e) for e in exc.errors(include_input=False, include_url=False)
        )
        raise AnalyzerError(f"{where}: {exc.error_count()} problem(s): {problems}") from exc


def check_config_file(path: Path) -> TimeoutConfig:
    """Validate a config file (.json, .yaml/.yml or .env) as the runtime reads it: a regular
    file of at most 4 MB, then every problem in one message."""
    try:
        found = read_config_file(str(path))
    except ConfigError as exc:
        raise AnalyzerError(f"{path}: {exc}") from exc
    return validate_document(found.document, str(path))


def _closed_names(node: Any) -> None:
    """Keys given by a pattern (service names) admit no other keys."""
    if isinstance(node, dict):
        if "patternProperties" in node:
            node["additionalProperties"] = False
        for value in node.values():
            _closed_names(value)
    elif isinstance(node, list):
        for value in node:
            _closed_names(value)


def json_schema() -> dict[str, Any]:
    schema = TimeoutConfig.model_json_schema()
    _closed_names(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"analyzer/timeout-config.v{limits.SCHEMA_VERSION}.schema.json"
    return schema


SCHEMA_PATH = (
    Path(__file__).resolve().parent
    / "schemas"
    / f"timeout-config.v{limits.SCHEMA_VERSION}.schema.json"
)
