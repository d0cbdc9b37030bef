"""`analyze summary`: what the lake holds for one env, startups and phase outcomes at a glance."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from analyzer.engine import Engine, QuestionNotAnswered
from analyzer.lake.store import check_env_name
from analyzer.timewindow import Window, plausible_time_params


class PhaseCounts(BaseModel):
    phase: int
    operation: str
    vpc_state: str
    attempts: int
    completed: int
    timed_out: int
    errors: int
    incomplete: int


class ConfigLoad(BaseModel):
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


class Summary(BaseModel):
    env: str
    window: Window
    events: int
    startups: int
    startups_completed: int
    startups_failed: int
    startups_incomplete: int
    startup_success_rate: float | None
    phases: list[PhaseCounts]
    # None: the engine cannot tell (it has no version of the question yet)
    configs: list[ConfigLoad] | None = []


class _Overview(BaseModel):
    window_start: datetime | None
    window_end: datetime | None
    events: int
    startups: int
    startups_completed: int
    startups_failed: int
    startups_incomplete: int


def summarize(*, engine: Engine, env: str) -> Summary:
    """Counts of startups and phase attempts for `env`, over all the telemetry stored."""
    check_env_name(env)
    params = {"env": env, **plausible_time_params()}
    overview = _Overview.model_validate(engine.rows("env_overview", params)[0])
    if not overview.events or not overview.window_start or not overview.window_end:
        raise engine.no_data_error(env)
    phases = engine.rows("phase_outcome_counts", {"env": env})
    ended = overview.startups_completed + overview.startups_failed
    return Summary(
        env=env,
        window=Window(start=overview.window_start, end=overview.window_end),
        events=overview.events,
        startups=overview.startups,
        startups_completed=overview.startups_completed,
        startups_failed=overview.startups_failed,
        startups_incomplete=overview.startups_incomplete,
        startup_success_rate=overview.startups_completed / ended if ended else None,
        phases=[PhaseCounts.model_validate(row) for row in phases],
        configs=_config_loads(engine, env),
    )


def _config_loads(engine: Engine, env: str) -> list[ConfigLoad] | None:
    try:
        return [ConfigLoad.model_validate(r) for r in engine.rows("config_loads", {"env": env})]
    except QuestionNotAnswered:
        return None
