"""`analyze backtest`: replay the window's phase attempts under another set of timeouts.

Honest about censoring: an attempt cut at its old timeout c would have finished under a longer
timeout T with probability 1 - S(T)/S(c), S being its group's duration estimate (Kaplan-Meier
within the data, the fitted lognormal beyond); it is never assumed to have finished. An
attempt that failed with an error fails under any timeout. A startup succeeds when every one
of its phase attempts does (fallbacks are not modelled). The breaker is replayed as Cloud Run
runs it: a fresh breaker in each process (one startup), over that process's calls of the phase in
start order on a clock that reads the calls' start times, a call failing when its chance is under
a half; the runtime's own breaker class does the counting, so the replay is the deployed logic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import polars as pl
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from analyzer.analysis.estimate import DurationEstimate, estimate_durations
from analyzer.analysis.fleet import service_rows
from analyzer.analysis.window import no_attempts_error, resolve_window
from analyzer.engine import Engine
from analyzer.lake.store import Store
from analyzer.recommend.policy import Policy
from analyzer.runtime.breaker import BreakerState, CircuitBreaker
from analyzer.runtime.schema import BreakerSettings
from analyzer.timewindow import Window

UNKNOWN = "unknown"
SWEEP_S = tuple(float(t) for t in range(5, 245, 5))
TimeoutTable = dict[tuple[int, str, str], float]  # (phase, operation, vpc_state) -> seconds
Sections = Mapping[str, TimeoutTable]  # a service's own timeouts, over the env default's
GROUP = ["service", "phase", "operation", "vpc_state"]  # an estimate's attempts
Floats = NDArray[np.float64]


class Outcome(BaseModel):
    """How the phase's attempts (and their startups) fared: observed under the timeouts in
    force, predicted under the replayed config."""

    attempts: int
    success_rate_observed: float
    success_rate_predicted: float
    seconds_lost_observed: float
    seconds_lost_predicted: float
    startups: int
    startup_success_rate_observed: float
    startup_success_rate_predicted: float
    breaker_opened_observed: int = Field(
        description="Processes whose breaker opened, replayed over the outcomes seen."
    )
    breaker_opened_predicted: int = Field(
        description="Processes whose breaker opened under the config."
    )
    breaker_refused_observed: int = Field(description="Calls their breakers refused.")
    breaker_refused_predicted: int


class StateOutcome(Outcome):
    service: str
    vpc_state: str


class SweepPoint(BaseModel):
    timeout_s: float
    success_rate_predicted: float
    by_state: dict[str, float]


class Backtest(BaseModel):
    env: str
    config: str
    window: Window
    phase: int
    services: list[str]
    states: list[StateOutcome]  # by service, then state
    overall: Outcome
    sweep: list[SweepPoint] | None = None


def success_probability(
    outcome: NDArray[np.str_], duration_s: Floats, timeout_s: Floats, estimate: DurationEstimate
) -> Floats:
    """Each attempt's chance of completing under `timeout_s` (see the module's docstring)."""
    completed = (outcome == "completed") & (duration_s <= timeout_s)
    p = completed.astype(np.float64)
    cut = (outcome == "timeout") & (timeout_s > duration_s)
    at_cut = estimate.survival_many(duration_s)
    at_timeout = estimate.survival_many(np.where(np.isfinite(timeout_s), timeout_s, 1e12))
    if cut.any() and at_cut is not None and at_timeout is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            later = np.clip(1.0 - at_timeout / at_cut, 0.0, 1.0)
        p = np.where(cut & (at_cut > 0), later, p)
    return np.asarray(p, dtype=np.float64)


# One fixed row order whatever order the engine returns (it moves the last bits of sums).
REPLAY_ORDER = ["started_s", "startup_id", "phase", "operation"]


def backtest(
    *,
    engine: Engine,
    env: str,
    timeouts: TimeoutTable,
    breaker: BreakerSettings,
    config_name: str,
    phase: int = 3,
    since: str = "28d",
    until: str | None = None,
    sweep: bool = False,
    services: Sequence[str] = (),
    sections: Sections | None = None,
) -> Backtest:
    """Replay under `timeouts` (a missing entry: the `unknown` state's, else the timeout that
    was in force), a service with a section of `sections` under its own over those, and set it
    beside what happened, per service (only `services` if given)."""
    start, end = resolve_window(engine, env, since=since, until=until)
    if services:  # one the env does not hold: the error lists those it does
        service_rows(engine, env, services)
    asked = {"env": env, "start": start, "end": end, "services": list(services)}
    frame = engine.frame("backtest_attempts", asked).sort(
        REPLAY_ORDER, nulls_last=True, maintain_order=True
    )
    if frame.is_empty():
        raise no_attempts_error(engine, env, start, end)
    return replay_attempts(
        frame,
        env=env,
        window=Window(start=start, end=end),
        timeouts=timeouts,
        breaker=breaker,
        config_name=config_name,
        phase=phase,
        sweep=sweep,
        sections=sections,
    )


def replay_attempts(
    frame: pl.DataFrame,
    *,
    env: str,
    window: Window,
    timeouts: TimeoutTable,
    breaker: BreakerSettings,
    config_name: str,
    phase: int = 3,
    sweep: bool = False,
    sections: Sections | None = None,
) -> Backtest:
    """`backtest` over the rows of `backtest_attempts` already read (in its one fixed order:
    by started_s, startup_id, phase and operation), of one service or more."""
    min_attempts = Policy().min_attempts
    estimates = {
        (str(service), int(str(p_)), str(op), str(state)): estimate_durations(
            part["duration_s"].to_numpy(),
            (part["outcome"] == "completed").to_numpy(),
            min_attempts=min_attempts,
        )
        for (service, p_, op, state), part in frame.group_by(GROUP, maintain_order=True)
    }

    def chosen(service: str, key: tuple[int, str, str], in_force: Floats) -> Floats:
        table = {**timeouts, **(sections or {}).get(service.lower(), {})}
        found = table.get(key) or table.get((key[0], key[1], UNKNOWN))
        return (
            np.full(in_force.size, found)
            if found
            else np.where(np.isnan(in_force), np.inf, in_force)
        )

    parts = []
    for (service, p_, op, state), part in frame.group_by(GROUP, maintain_order=True):
        key = (str(service), int(str(p_)), str(op), str(state))
        new = chosen(key[0], key[1:], part["timeout_s"].fill_null(np.nan).to_numpy())
        chance = success_probability(
            part["outcome"].to_numpy(), part["duration_s"].to_numpy(), new, estimates[key]
        )
        parts.append(part.with_columns(pl.Series("timeout_new", new), pl.Series("p", chance)))
    replay = pl.concat(parts).sort(REPLAY_ORDER, maintain_order=True)
    startups = replay.group_by("startup_id", maintain_order=True).agg(
        (pl.col("outcome") == "completed").all().alias("startup_done"),
        pl.col("p").product().alias("startup_p"),
    )
    focus = replay.filter(pl.col("phase") == phase).join(startups, on="startup_id", how="left")
    process = focus["startup_id"].to_numpy()
    started = focus["started_s"].to_numpy()
    observed = per_process_breaker(
        process, started, (focus["outcome"] == "completed").to_numpy(), breaker
    )
    predicted = per_process_breaker(process, started, (focus["p"] >= 0.5).to_numpy(), breaker)
    focus = focus.with_columns(
        pl.Series("opened_observed", observed[0]),
        pl.Series("refused_observed", observed[1]),
        pl.Series("opened_predicted", predicted[0]),
        pl.Series("refused_predicted", predicted[1]),
    )
    result = Backtest(
        env=env,
        config=config_name,
        window=window,
        phase=phase,
        services=sorted(set(frame["service"].to_list())),
        states=[
            StateOutcome(service=str(service), vpc_state=str(state), **_outcome(part))
            for (service, state), part in sorted(
                focus.group_by(["service", "vpc_state"]), key=lambda kv: tuple(map(str, kv[0]))
            )
        ],
        overall=Outcome(**_outcome(focus)),
    )
    if sweep:
        result.sweep = [_sweep_point(focus, t, estimates) for t in SWEEP_S]
    return result


def _outcome(rows: pl.DataFrame) -> dict[str, float | int]:
    n = rows.height
    if not n:
        return dict.fromkeys(Outcome.model_fields, 0)
    p, new = rows["p"].to_numpy(), rows["timeout_new"].to_numpy()
    errors = (rows["outcome"] == "error").to_numpy()
    timed_out = (rows["outcome"] == "timeout").to_numpy()
    lost_new = np.where(errors | ~np.isfinite(new), 0.0, (1.0 - p) * new)
    # a startup counts in the state its attempt of the phase ran in
    per_startup = rows.unique("startup_id", keep="first", maintain_order=True)
    return {
        "attempts": n,
        "success_rate_observed": float((rows["outcome"] == "completed").to_numpy().mean()),
        "success_rate_predicted": float(p.mean()),
        "seconds_lost_observed": float(rows["duration_s"].to_numpy()[timed_out].sum()),
        "seconds_lost_predicted": float(lost_new.sum()),
        "startups": per_startup.height,
        "startup_success_rate_observed": float(per_startup["startup_done"].to_numpy().mean()),
        "startup_success_rate_predicted": float(per_startup["startup_p"].to_numpy().mean()),
        "breaker_opened_observed": _processes_opened(rows, "opened_observed"),
        "breaker_opened_predicted": _processes_opened(rows, "opened_predicted"),
        "breaker_refused_observed": int(rows["refused_observed"].sum()),
        "breaker_refused_predicted": int(rows["refused_predicted"].sum()),
    }


def _processes_opened(rows: pl.DataFrame, column: str) -> int:
    return int(rows.filter(pl.col(column))["startup_id"].n_unique())


def per_process_breaker(
    process: NDArray[np.str_],
    started_s: Floats,
    succeeded: NDArray[np.bool_],
    settings: BreakerSettings,
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Replay a fresh breaker in each process over its calls (rows in start order): which call
    opened its process's breaker, and which calls it refused."""
    opened = np.zeros(started_s.size, dtype=bool)
    refused = np.zeros(started_s.size, dtype=bool)
    rows: dict[object, list[int]] = {}
    for index, name in enumerate(process.tolist()):
        rows.setdefault(name, []).append(index)
    now, current = [0.0], [0]

    def mark(_before: object, after: object) -> None:
        if after == "OPEN":
            opened[current[0]] = True

    for indices in rows.values():
        breaker = runtime_breaker(settings, clock=lambda: now[0], on_transition=mark)
        for index in indices:
            now[0], current[0] = float(started_s[index]), index
            if not breaker.should_attempt_request():
                refused[index] = True
            elif succeeded[index]:
                breaker.record_success()
            else:
                breaker.record_failure(None)
    return opened, refused


def runtime_breaker(
    settings: BreakerSettings,
    *,
    clock: Callable[[], float],
    on_transition: Callable[[BreakerState, BreakerState], None],
) -> CircuitBreaker:
    """The runtime's breaker with a config's settings, as a service builds it (its summaries
    go nowhere: no `on_summary`, so no timer)."""
    return CircuitBreaker.from_settings(settings, clock=clock, on_transition=on_transition)


def _sweep_point(
    focus: pl.DataFrame,
    timeout_s: float,
    estimates: dict[tuple[str, int, str, str], DurationEstimate],
) -> SweepPoint:
    sums: dict[str, tuple[float, int]] = {}  # state -> (chances summed, attempts), all services
    for (service, op, state), part in focus.group_by(
        ["service", "operation", "vpc_state"], maintain_order=True
    ):
        key = (str(service), int(part["phase"][0]), str(op), str(state))
        p = success_probability(
            part["outcome"].to_numpy(),
            part["duration_s"].to_numpy(),
            np.full(part.height, timeout_s),
            estimates[key],
        )
        total, count = sums.get(str(state), (0.0, 0))
        sums[str(state)] = (total + float(p.sum()), count + part.height)
    total, count = sum(t for t, _ in sums.values()), sum(n for _, n in sums.values())
    return SweepPoint(
        timeout_s=timeout_s,
        success_rate_predicted=total / count if count else 0.0,
        by_state={state: t / n for state, (t, n) in sorted(sums.items())},
    )


def replay_config(
    store: Store,
    env: str,
    *,
    config_file: str | None,
    static_timeout_s: float | None,
    phase: int,
    run_id: str | None = None,
) -> tuple[str, TimeoutTable, BreakerSettings, Sections]:
    """What to replay: a static timeout for the phase, an exported config file (checked by the
    one validator), or (the default) the env's latest saved run, or the run `run_id` names; its
    env default timeouts, breaker and per-service sections."""
    from pathlib import Path

    from analyzer.deploy.export import config_from_recommendation
    from analyzer.deploy.model import check_config_file
    from analyzer.recommend.history import chosen_run, describe_run
    from analyzer.runtime.schema import parse_config

    if static_timeout_s is not None:
        from analyzer.runtime.defaults import BREAKER

        name = f"static {static_timeout_s:g} s for phase {phase}"
        return name, {(phase, "initialization", UNKNOWN): static_timeout_s}, BREAKER, {}
    if config_file:
        checked = check_config_file(Path(config_file))
        config = parse_config(checked.document(), source=config_file)
        return config_file, dict(config.timeouts), config.breaker, config.services
    rec = chosen_run(store, env, run_id)
    config = parse_config(config_from_recommendation(rec).document())
    return describe_run(rec), dict(config.timeouts), config.breaker, config.services
