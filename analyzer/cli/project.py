"""The project file (`analyzer.toml`, found by `analyzer.cli.main`): per-env defaults for the
commands' options.

It fills click's `default_map`, so a flag still wins, then an environment variable the option
reads, then the file, then the option's built-in default. Relative paths in it are taken from
the file's folder, so a command run anywhere below it means the same.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from analyzer.errors import AnalyzerError

_KEY_MARK = "key "  # a table's check naming one of its keys: joined to the table's path


@dataclass(frozen=True)
class Setting:
    """One key of the file and the option it fills: `param` of each command in `commands`
    (None: every command that has that parameter, but `demo`, whose store is its own)."""

    key: str
    param: str
    flag: str
    commands: tuple[str, ...] | None = None
    path: bool = False
    many: tuple[str, ...] = ()  # commands whose option is repeatable: a list of the one value


WINDOWED = ("recommend", "backtest", "report")
MANY_SERVICES = ("recommend", "history")  # --service NAME, repeatable
SETTINGS = (
    Setting("store", "store", "--store", path=True),
    Setting("project", "project", "--project", ("collect",)),
    Setting("service", "service", "--service", ("collect", *MANY_SERVICES), many=MANY_SERVICES),
    Setting("deployed", "deployed_file", "--deployed", ("recommend",), path=True),
    Setting("policy.since", "since", "--since", WINDOWED),
    Setting("policy.half-life", "half_life", "--half-life", ("recommend",)),
    Setting("policy.target-rate", "target_rate", "--target-rate", ("recommend",)),
    Setting("policy.target-quantile", "target_quantile", "--target-quantile", ("recommend",)),
    Setting("policy.margin", "margin", "--margin", ("recommend",)),
    Setting("policy.floor", "floor_s", "--floor", ("recommend",)),
    Setting("policy.ceiling", "ceiling_s", "--ceiling", ("recommend",)),
    Setting("policy.step", "step_s", "--step", ("recommend",)),
    Setting("policy.min-attempts", "min_attempts", "--min-attempts", ("recommend",)),
    Setting("policy.max-false-trips", "max_false_trips", "--max-false-trips", ("recommend",)),
    Setting("policy.confidence", "confidence", "--confidence", ("recommend",)),
    Setting("policy.joint", "joint", "--joint", ("recommend",)),
    # where the telemetry is read: every command with the engine's options
    Setting("engine", "engine", "--engine"),
    Setting("source", "source", "--source"),
    Setting("source-shape", "source_shape", "--source-shape"),
    Setting("source-services", "source_services", "--source-services"),
    Setting("max-bytes-billed", "max_bytes_billed", "--max-bytes-billed"),
    Setting("job-timeout", "job_timeout", "--job-timeout"),
    Setting("location", "location", "--location"),
    Setting("billing-project", "billing_project", "--billing-project"),
    Setting("attempt-rows", "attempt_rows", "--attempt-rows"),
    Setting("export.out", "out", "--out", ("export",), path=True),
    Setting("export.format", "fmt", "--format", ("export",)),
)
# demo also runs the commands it shows without the file; `config show` passes its own --store
# on as a flag, so the file's store must reach the commands it shows as theirs, not as a flag
NOT_FROM_THE_FILE = ("demo", "show")


def _kebab(name: str) -> str:
    return name.replace("_", "-")


class _Table(BaseModel):
    # strict: a boolean is not a number (`min-attempts = true` is not 1), nor a number a text
    model_config = ConfigDict(extra="forbid", alias_generator=_kebab, frozen=True, strict=True)

    @field_validator("*")
    @classmethod
    def _no_null(cls, value: Any) -> Any:
        """A NUL in a text passes TOML but fails every command that opens the path later."""
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("a text with a NUL character")
        return value


class PolicyTable(_Table):
    since: str | None = None
    half_life: str | None = None
    target_rate: float | None = None
    target_quantile: float | None = None
    margin: float | None = None
    floor: float | None = None
    ceiling: float | None = None
    step: float | None = None
    min_attempts: int | None = None
    max_false_trips: float | None = None
    confidence: float | None = None
    joint: bool | None = None

    @field_validator("since")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        from datetime import UTC, datetime

        from analyzer.timewindow import window_start

        if value is not None:
            _as_value_error(window_start, value, datetime.now(UTC))
        return value

    @field_validator("half_life")
    @classmethod
    def _span(cls, value: str | None) -> str | None:
        from analyzer.timewindow import parse_span

        if value is not None:
            _as_value_error(parse_span, value)
        return value

    @model_validator(mode="after")
    def _valid_policy(self) -> PolicyTable:
        """The numbers pass the same rules `recommend` applies (its Policy model)."""
        from analyzer.recommend.policy import Policy

        names = {"floor": "floor_s", "ceiling": "ceiling_s", "step": "step_s"}
        names["max_false_trips"] = "max_false_trips_per_week"
        given = self.model_dump(exclude_none=True, exclude={"since", "half_life"})
        try:
            Policy(**{names.get(k, k): v for k, v in given.items()})
        except ValidationError as exc:
            back = {v: _kebab(k) for k, v in names.items()}
            first = exc.errors()[0]
            message = str(first["msg"]).removeprefix("Value error, ")
            if not first["loc"]:
                raise ValueError(message) from None
            field = str(first["loc"][0])
            raise ValueError(f"{_KEY_MARK}{back.get(field, _kebab(field))}: {message}") from None
        return self


def _as_value_error(check: Any, *args: Any) -> None:
    """A library check inside a validator: its one line becomes the key's error."""
    try:
        check(*args)
    except AnalyzerError as exc:
        raise ValueError(str(exc)) from None


class ExportTable(_Table):
    out: str | None = None
    format: Literal["json", "yaml", "env"] | None = None


class EnvTable(_Table):
    store: str | None = None
    project: str | None = None
    service: str | None = None
    engine: Literal["local", "bigquery"] | None = None
    source: str | None = None
    source_shape: Literal["sink", "log-analytics", "lake"] | None = None
    source_services: str | None = None
    max_bytes_billed: str | int | None = None
    job_timeout: str | None = None
    location: str | None = None
    billing_project: str | None = None
    attempt_rows: Literal["auto", "rows", "counts"] | None = None
    deployed: str | None = None
    policy: PolicyTable = PolicyTable()
    export: ExportTable = ExportTable()

    @field_validator("source")
    @classmethod
    def _table_id(cls, value: str | None) -> str | None:
        from analyzer.engine.bigquery_sql import check_table_id

        if value is not None:
            _as_value_error(check_table_id, value)
        return value

    @field_validator("max_bytes_billed")
    @classmethod
    def _size(cls, value: str | int | None) -> str | None:
        from analyzer.cli.main import parse_bytes

        if value is None:
            return None
        _as_value_error(parse_bytes, str(value))
        return str(value)


class ProjectTables(_Table):
    defaults: EnvTable = EnvTable()
    env: dict[str, EnvTable] = {}

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, EnvTable]) -> dict[str, EnvTable]:
        from analyzer.lake.store import check_env_name

        for name in value:
            _as_value_error(check_env_name, name)
        return value


@dataclass(frozen=True)
class Found:
    """A setting's value and the table of the file it came from."""

    value: Any
    table: str


@dataclass(frozen=True)
class ProjectFile:
    path: Path
    tables: ProjectTables

    def settings_for(self, env: str | None) -> dict[str, Found]:
        """Every key the file sets for `env` (its `[env.ENV]` tables over `[defaults]`)."""
        found: dict[str, Found] = {}
        sections = [("defaults", self.tables.defaults)]
        if env is not None and env in self.tables.env:
            sections.append((f"env.{env}", self.tables.env[env]))
        for prefix, table in sections:
            for setting in SETTINGS:
                value = _lookup(table, setting.key)
                if value is not None:
                    if setting.path and "://" not in value:  # a URL (gs://) stays as it is
                        value = str(self.path.parent / Path(value).expanduser())
                    head, _, _ = setting.key.rpartition(".")
                    found[setting.key] = Found(value, f"{prefix}.{head}" if head else prefix)
        return found

    def command_defaults(self, command: str, env: str | None) -> dict[str, Any]:
        """The `default_map` entries of one command for `env`."""
        if command in NOT_FROM_THE_FILE:
            return {}
        found = self.settings_for(env)
        return {
            s.param: [found[s.key].value] if command in s.many else found[s.key].value
            for s in SETTINGS
            if s.key in found and (s.commands is None or command in s.commands)
        }


def _lookup(table: BaseModel, key: str) -> Any:
    value: Any = table
    for part in key.split("."):
        value = getattr(value, part.replace("-", "_"))
    return value


def load_project_file(path: Path) -> ProjectFile:
    """The file, checked: one line naming the key for anything wrong in it. It is read as the
    runtime reads configs: a regular file only (a FIFO is never waited on), at most 4 MB."""
    from analyzer.runtime.configfile import read_bytes
    from analyzer.runtime.schema import ConfigError

    try:
        data = tomllib.loads(read_bytes(str(path)).decode("utf-8"))
    except ConfigError as exc:
        raise AnalyzerError(f"cannot read project file {path}: {exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AnalyzerError(f"invalid project file {path}: {exc}") from exc
    except RecursionError as exc:
        raise AnalyzerError(f"invalid project file {path}: nested too deeply") from exc
    try:
        tables = ProjectTables.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(e) for e in exc.errors())
        raise AnalyzerError(f"invalid project file {path}: {problems}") from exc
    return ProjectFile(path=path.resolve(), tables=tables)


def _problem(error: Any) -> str:
    key = ".".join(str(p) for p in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if message.startswith(_KEY_MARK):
        inner, _, message = message.removeprefix(_KEY_MARK).partition(": ")
        key = f"{key}.{inner}" if key else inner
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{key}: {message}" if key else message
