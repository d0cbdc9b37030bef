"""The exported timeout config, defined once as pydantic models: what `analyze export` writes,
what `analyze export --check` validates, and the published JSON Schema.

The format's numbers (bounds, version) come from `analyzer.runtime.schema`, which reads the same
files inside services with the standard library only; a test keeps the two in agreement.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from analyzer.errors import AnalyzerError
from analyzer.recommend.model import Recommendation
from analyzer.runtime import schema as limits
from analyzer.runtime.envfile import from_env_lines, to_env_lines

Name = Field(min_length=1, max_length=limits.NAME_MAX_CHARS)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConfigTimeout(_Strict):
    phase: int = Field(ge=1, le=limits.MAX_PHASE, strict=True)
    operation: str = Name
    vpc_state: str = Name
    timeout_s: float = Field(gt=0, le=limits.MAX_TIMEOUT_S, allow_inf_nan=False, strict=True)
    attempts: int | None = Field(None, ge=0, strict=True, description="Sample size behind it.")
    derived_from: str | None = Field(None, description="For `unknown`: the state it copies.")


class ConfigBreaker(_Strict):
    failure_threshold: int = Field(ge=1, le=limits.MAX_FAILURE_THRESHOLD, strict=True)
    recovery_timeout_s: float = Field(
        gt=0, le=limits.MAX_RECOVERY_TIMEOUT_S, allow_inf_nan=False, strict=True
    )
    half_open_max_calls: int = Field(ge=1, le=limits.MAX_HALF_OPEN_CALLS, strict=True)


class ConfigPool(_Strict):
    pool_size: float | None = Field(None, ge=0, le=limits.MAX_TIMEOUT_S, strict=True)
    max_overflow: float | None = Field(None, ge=0, le=limits.MAX_TIMEOUT_S, strict=True)
    pool_timeout: float | None = Field(None, ge=0, le=limits.MAX_TIMEOUT_S, strict=True)
    capacity_safety_margin: float | None = Field(None, ge=0, le=limits.MAX_TIMEOUT_S, strict=True)


class ConfigVpc(_Strict):
    monitoring_enabled: bool | None = Field(None, strict=True)
    capacity_aware_timeouts: bool | None = Field(None, strict=True)
    capacity_pressure_threshold: float | None = Field(
        None, ge=0, le=limits.MAX_TIMEOUT_S, strict=True
    )
    scaling_buffer_timeout: float | None = Field(None, ge=0, le=limits.MAX_TIMEOUT_S, strict=True)


class ConfigSource(BaseModel):
    """Where the numbers came from: the recommendation's window and sample sizes."""

    window_start: datetime
    window_end: datetime
    attempts: int = Field(ge=0)
    completed: int = Field(ge=0)
    policy: dict[str, Any] = Field(default_factory=dict)


class TimeoutConfig(_Strict):
    """Timeouts per phase, operation and VPC state, and the breaker settings, for one env."""

    schema_version: Literal[1] = 1
    env: str = Name
    generated_at: datetime
    source: ConfigSource | None = None
    timeouts: list[ConfigTimeout] = Field(min_length=1, max_length=limits.MAX_ENTRIES)
    breaker: ConfigBreaker
    pool: ConfigPool | None = None
    vpc: ConfigVpc | None = None

    @model_validator(mode="after")
    def _one_entry_per_key(self) -> TimeoutConfig:
        seen: set[tuple[int, str, str]] = set()
        for index, entry in enumerate(self.timeouts):
            key = (entry.phase, entry.operation, entry.vpc_state)
            if key in seen:
                raise ValueError(f"timeouts[{index}]: a second entry for {key}")
            seen.add(key)
        return self

    def document(self) -> dict[str, Any]:
        """The file's content as plain data (None sections left out)."""
        return self.model_dump(mode="json", exclude_none=True)


def config_from_recommendation(rec: Recommendation) -> TimeoutConfig:
    entries = [
        ConfigTimeout(
            phase=t.phase,
            operation=t.operation,
            vpc_state=t.vpc_state,
            timeout_s=t.timeout_s,
            attempts=t.attempts,
            derived_from=t.derived_from,
        )
        for t in rec.timeouts
        if t.timeout_s is not None
    ]
    if not entries:
        raise AnalyzerError(
            f"the latest recommendation for env {rec.env!r} has no timeout with enough data "
            "behind it; collect more attempts or lower --min-attempts"
        )
    observed = [t for t in rec.timeouts if t.vpc_state != "unknown" or t.derived_from is None]
    return TimeoutConfig(
        env=rec.env,
        generated_at=rec.generated_at,
        source=ConfigSource(
            window_start=rec.window.start,
            window_end=rec.window.end,
            attempts=sum(t.attempts for t in observed),
            completed=sum(t.completed for t in observed),
            policy=rec.policy.model_dump(mode="json"),
        ),
        timeouts=entries,
        breaker=ConfigBreaker(
            failure_threshold=rec.breaker.failure_threshold,
            recovery_timeout_s=rec.breaker.recovery_timeout_s,
            half_open_max_calls=rec.breaker.half_open_max_calls,
        ),
    )


def render_config(config: TimeoutConfig, fmt: str) -> str:
    document = config.document()
    if fmt == "yaml":
        import yaml

        return str(yaml.safe_dump(document, sort_keys=False))
    if fmt == "env":
        return to_env_lines(document)
    return json.dumps(document, indent=2) + "\n"


def check_config_file(path: Path) -> TimeoutConfig:
    """Validate a config file (.json, .yaml/.yml or .env); every problem in one message."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnalyzerError(f"{path}: cannot read ({exc})") from exc
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            return TimeoutConfig.model_validate(yaml.safe_load(text))
        if path.suffix == ".env":
            return TimeoutConfig.model_validate(from_env_lines(text))
        return TimeoutConfig.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise AnalyzerError(f"{path}: {exc.error_count()} problem(s): {problems}") from exc
    except Exception as exc:  # malformed YAML / env lines
        raise AnalyzerError(f"{path}: not a config file ({exc})") from exc


def json_schema() -> dict[str, Any]:
    schema = TimeoutConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "analyzer/timeout-config.v1.schema.json"
    return schema


SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "timeout-config.v1.schema.json"
