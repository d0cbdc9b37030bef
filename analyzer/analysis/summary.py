"""`analyze summary`: what the lake holds for one env, startups and phase outcomes at a glance,
per service."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from analyzer.analysis.fleet import service_rows
from analyzer.engine import Engine
from analyzer.lake.store import check_env_name
from analyzer.timewindow import Window, plausible_time_params

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# Plain dataclasses, not pydantic models: `summary` needs no validation beyond the engine's
# typed rows, and starts a tenth of a second sooner without importing pydantic.


@dataclass
class StartupCounts:
    startups: int
    startups_completed: int
    startups_failed: int
    startups_incomplete: int
    startup_success_rate: float | None  # of the startups that ended


@dataclass
class ServiceStartups(StartupCounts):
    service: str
    # Of the service's phase attempts, the share whose VPC state is `unknown` (None: no
    # attempts): high when the service has no VPC state provider or monitor wired.
    vpc_unknown_share: float | None


@dataclass
class PhaseCounts:
    service: str
    phase: int
    operation: str
    vpc_state: str
    attempts: int
    completed: int
    timed_out: int
    errors: int
    incomplete: int


@dataclass
class ConfigLoad:
    """The config a service revision ran with, as its processes reported at start."""

    service: str | None
    revision: str | None
    outcome: str | None
    config_path: str | None
    generated_at: str | None
    config_sha256: str | None
    run_id: str | None
    error: str | None
    processes: int
    first_ts: datetime
    last_ts: datetime


@dataclass
class Summary(StartupCounts):
    """Window and events are the env's; startups (over `services`) and phases are those of the
    services asked for, every one by default."""

    env: str
    window: Window
    events: int
    services: list[ServiceStartups]
    phases: list[PhaseCounts]
    # None: the engine cannot tell (it has no version of the question yet)
    configs: list[ConfigLoad] | None = field(default_factory=list)


@dataclass
class _Overview:
    window_start: datetime | None
    window_end: datetime | None
    events: int


R = TypeVar("R", bound="DataclassInstance")


def _record(kind: type[R], row: Mapping[str, Any]) -> R:
    """One of the records above from an engine's row: its columns by name, others left out."""
    return kind(**{f.name: row[f.name] for f in fields(kind)})


def summarize(*, engine: Engine, env: str, services: Sequence[str] = ()) -> Summary:
    """Counts of startups and phase attempts for `env`, over all the telemetry stored, per
    service: of `services` only when given (one the env does not hold is an error naming
    those it does)."""
    check_env_name(env)
    params = {"env": env, **plausible_time_params()}
    overview = _record(_Overview, engine.rows("env_overview", params)[0])
    if not overview.events or not overview.window_start or not overview.window_end:
        raise engine.no_data_error(env)
    rows = service_rows(engine, env, services)
    asked = {"env": env, "services": list(services)}
    phases = [_record(PhaseCounts, r) for r in engine.rows("phase_outcome_counts", asked)]
    chosen = [
        _record(
            ServiceStartups,
            {**_with_rate(row), "vpc_unknown_share": _unknown_share(phases, str(row["service"]))},
        )
        for row in rows
    ]
    totals = {k: sum(getattr(s, k) for s in chosen) for k in _COUNTS}
    return Summary(
        env=env,
        window=Window(start=overview.window_start, end=overview.window_end),
        events=overview.events,
        **_with_rate(totals),
        services=chosen,
        phases=phases,
        configs=_config_loads(engine, asked),
    )


_COUNTS = ("startups", "startups_completed", "startups_failed", "startups_incomplete")


def _with_rate(counts: Mapping[str, Any]) -> dict[str, Any]:
    """The counts and the success rate of the startups that ended."""
    ended = counts["startups_completed"] + counts["startups_failed"]
    rate = counts["startups_completed"] / ended if ended else None
    return {**counts, "startup_success_rate": rate}


def _unknown_share(phases: Sequence[PhaseCounts], service: str) -> float | None:
    """The share of the service's phase attempts in VPC state `unknown`."""
    attempts = [p for p in phases if p.service == service]
    total = sum(p.attempts for p in attempts)
    unknown = sum(p.attempts for p in attempts if p.vpc_state == "unknown")
    return unknown / total if total else None


def _config_loads(engine: Engine, params: Mapping[str, object]) -> list[ConfigLoad]:
    return [_record(ConfigLoad, r) for r in engine.rows("config_loads", params)]
