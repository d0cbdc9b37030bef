"""Circuit-breaker settings for a phase's dependency, for a breaker that lives in one process
and guards every call it makes: the threshold from how many calls a process makes and how its
failures come (alone or in bursts), as its `breaker_summary` events show, else the runtime's
built-in breaker; the wait in OPEN from how long strained episodes of the VPC timeline last;
rate rules as evidence."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from analyzer.analysis.attempts import AttemptGroup
from analyzer.analysis.stats import (
    KaplanMeier,
    burst_correlation,
    dispersion,
    episodes,
    lower_rate,
    rate_rule,
    run_false_opens,
    upper_rate,
)
from analyzer.analysis.stats.breaker import RateRule, poisson_quantile
from analyzer.engine import Engine
from analyzer.recommend.model import Breaker, PhaseTimeout
from analyzer.recommend.policy import Policy
from analyzer.runtime.schema import MAX_RECOVERY_TIMEOUT_S, BreakerSettings

HEALTHY = "healthy"
STRAINED = frozenset({"pressure", "critical"})
DEFAULT_RECOVERY_S = 30.0
RECOVERY_BOUNDS_S = (5.0, MAX_RECOVERY_TIMEOUT_S)
DEFAULT_MAX_RECOVERY_S = 600.0
BACKOFF_MULTIPLIER = 2.0
# With no in-life call volume to turn false trips a week into a chance per evaluation.
FALSE_TRIP_PER_EVALUATION = 0.001
TRIP_TARGET = 0.9  # the chance a full window of strained calls should open it
WINDOWS = (10, 20, 50, 100, 200)
WEEK_S = 7 * 86400.0
# The runtime's built-in breaker (the seed's: 5 failures in a row, 30 s), what a service runs
# with no config: the advice never ships one that opens more readily.
BUILT_IN = BreakerSettings()
# In-life calls of quiet states must cover this much process time before their volume counts.
MIN_PROCESS_S = 3600.0
# The printed bound on false opens a process-week holds in this share of process-weeks.
FALSE_OPEN_LEVEL = 0.999
MAX_CONSECUTIVE = 50
MODEL = (
    "Consecutive mode, for a breaker in each process that guards every call it makes: "
    "failure_threshold failures in a row open it. Where the lake's breaker_summary events "
    "cover an hour or more of quiet (healthy; else not pressure or critical) process time, "
    "the threshold is the smallest, never under the runtime's built-in "
    f"{BUILT_IN.failure_threshold}, whose false opens in a process-week at the calls a process "
    "makes there stay at or under --max-false-trips in "
    f"{FALSE_OPEN_LEVEL:.1%} of process-weeks: failures are a two-state Markov chain (alone, "
    "or in bursts) at the failure rate's upper confidence bound, its burstiness read from how "
    "much the summaries' failure counts vary beyond the binomial (their index of dispersion, "
    "upper bound). Else the built-in breaker ships "
    f"({BUILT_IN.failure_threshold} in a row, {BUILT_IN.recovery_timeout_s:g} s). "
    "The rate rules, evidence only: over the last window_calls calls of a process, once "
    "minimum_calls are in the window, a share of failed calls at or over "
    "failure_rate_threshold, or of slow calls (over the call's phase and VPC state timeout) at "
    "or over slow_call_rate_threshold, opens it. Calls are taken as independent, each failing "
    "with its state's rate under the recommended timeouts (errors, plus the predicted timeout "
    "rate at the recommended timeout), so the failures in a window are binomial: the thresholds "
    "are the lowest whose chance of opening on healthy calls (at the rates' upper confidence "
    "bound) stays at or under the false-trip chance per evaluation at every fill from "
    "minimum_calls on; the window is the shortest whose full window of critical calls opens it "
    f"with probability {TRIP_TARGET:g} or more. The first wait in OPEN is the longest a probe "
    "may take (max_half_open_s: 1.1 x the phase's longest recommended timeout), at least the "
    f"built-in {DEFAULT_RECOVERY_S:g} s; each failed probe doubles it, up to the Kaplan-Meier "
    "median length of pressure-or-critical episodes of the VPC timeline (an episode still going "
    "at the window's end is censored), so a false trip costs one probe's time and a strained "
    "episode a few failed probes. With no timeline, or no strained episode in it: "
    f"{DEFAULT_RECOVERY_S:g} s, up to {DEFAULT_MAX_RECOVERY_S:g} s."
)


@dataclass(frozen=True)
class LakeEvidence:
    """What the lake holds beyond the startup attempts: the VPC state timeline (epoch seconds,
    state; oldest first) and the in-life `breaker_summary` rows; None where no engine was read
    (a recommendation from the attempts alone)."""

    timeline: list[tuple[float, str]] | None
    summaries: list[dict[str, Any]] | None


def lake_evidence(engine: Engine, env: str, start: datetime, end: datetime) -> LakeEvidence:
    params = {"env": env, "start": start, "end": end}
    timeline = [(_epoch(r["ts"]), str(r["vpc_state"])) for r in engine.rows("vpc_timeline", params)]
    return LakeEvidence(timeline=timeline, summaries=engine.rows("breaker_summaries", params))


def _epoch(value: object) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(str(value))


@dataclass
class StateRates:
    """One VPC state's calls and their failure and slow-call rates under the recommended
    timeouts (point and upper confidence bound), from startup or in-life calls."""

    calls: float
    failure_rate: float
    failure_lower: float
    failure_upper: float
    slow_rate: float
    slow_upper: float
    source: str
    exposure_s: float | None = None  # in-life: the process-seconds the summaries cover

    def as_evidence(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "failure_rate": self.failure_rate,
            "failure_rate_lower": self.failure_lower,
            "failure_rate_upper": self.failure_upper,
            "slow_rate": self.slow_rate,
            "slow_rate_upper": self.slow_upper,
            "source": self.source,
        }


def startup_rates(
    calls: list[AttemptGroup], rows: list[PhaseTimeout], level: float
) -> dict[str, StateRates]:
    """Per VPC state, the startup calls' rates under the recommended timeouts: errors (an
    attempt stopped before its timeout) fail under any timeout; of the rest, the share the
    joined curve predicts past the recommended timeout. A state without an estimate counts
    every cut attempt as a failure (what was seen, the least favourable reading)."""
    predicted = {(r.operation, r.vpc_state): r for r in rows}
    found: dict[str, dict[str, float]] = {}
    for g in calls:
        errors = float(g.attempts_where(~g.observed & ~(g.duration_s >= g.timeout_s * (1 - 1e-9))))
        row = predicted.get((g.operation, g.vpc_state))
        point = row.timeout_rate_recommended if row and row.source == "recommended" else None
        upper = row.timeout_rate_recommended_upper if point is not None and row else None
        if point is None:
            cut = float(g.attempts_where(~g.observed)) - errors
            point = cut / g.size if g.size else 0.0
            upper = upper_rate(cut, g.size, level)
        acc = found.setdefault(
            g.vpc_state, {"calls": 0.0, "errors": 0.0, "timeout": 0.0, "upper": 0.0}
        )
        acc["calls"] += g.size
        acc["errors"] += errors
        acc["timeout"] += point * g.size
        acc["upper"] += (upper if upper is not None else 1.0) * g.size
    out = {}
    for state, acc in found.items():
        n = acc["calls"]
        timeout, upper = acc["timeout"] / n, acc["upper"] / n
        out[state] = StateRates(
            calls=n,
            failure_rate=min(1.0, acc["errors"] / n + timeout),
            failure_lower=lower_rate(acc["errors"], n, level),
            failure_upper=min(1.0, upper_rate(acc["errors"], n, level) + upper),
            slow_rate=timeout,
            slow_upper=upper,
            source="startup calls under the recommended timeouts",
        )
    return out


def in_life_rates(summaries: list[dict[str, Any]], level: float) -> dict[str, StateRates]:
    """Per VPC state, what the in-process breakers counted over the processes' lives."""
    found: dict[str, dict[str, float]] = {}
    for row in summaries:
        calls = float(row.get("calls") or 0)
        if calls <= 0:
            continue
        acc = found.setdefault(
            str(row.get("vpc_state") or "unknown"),
            {"calls": 0.0, "failures": 0.0, "slow": 0.0, "exposure": 0.0},
        )
        acc["calls"] += calls
        acc["failures"] += float(row.get("failures") or 0)
        acc["slow"] += float(row.get("slow_calls") or 0)
        acc["exposure"] += float(row.get("window_s") or 0)
    return {
        state: StateRates(
            calls=acc["calls"],
            failure_rate=acc["failures"] / acc["calls"],
            failure_lower=lower_rate(acc["failures"], acc["calls"], level),
            failure_upper=upper_rate(acc["failures"], acc["calls"], level),
            slow_rate=acc["slow"] / acc["calls"],
            slow_upper=upper_rate(acc["slow"], acc["calls"], level),
            source="in-life calls (breaker_summary)",
            exposure_s=acc["exposure"] or None,
        )
        for state, acc in found.items()
    }


@dataclass
class ProcessVolume:
    """The in-life calls of quiet states, per process: each summary window's calls and failures
    (a process's summaries of one window, one per operation, summed), and the process time the
    windows cover."""

    states: list[str]
    calls: np.ndarray
    failures: np.ndarray
    process_s: float
    timeout_s: float | None  # the longest timeout the calls ran under (slow_threshold_s)
    by_state: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def per_s(self) -> float:
        """Calls per process-second."""
        return float(self.calls.sum()) / self.process_s if self.process_s else 0.0


def process_volume(summaries: list[dict[str, Any]]) -> ProcessVolume:
    """The calls per process of the quiet states: healthy where its summaries cover
    MIN_PROCESS_S, else every state but pressure and critical (unknown among them: a service
    without a VPC monitor reports only that). A process's summaries of one window (one per
    operation) are one window: its time counts once."""
    windows: dict[str, dict[tuple[object, ...], list[float]]] = {}
    for n, row in enumerate(summaries):
        calls = float(row.get("calls") or 0)
        if calls <= 0:
            continue
        state = str(row.get("vpc_state") or "unknown")
        window_s = float(row.get("window_s") or 0.0)
        instance = row.get("instance_id")
        key: tuple[object, ...] = (
            (instance, str(row.get("ts")), round(window_s, 3)) if instance else (n,)
        )
        acc = windows.setdefault(state, {}).setdefault(key, [0.0, 0.0, window_s, 0.0])
        acc[0] += calls
        acc[1] += float(row.get("failures") or 0)
        acc[3] = max(acc[3], float(row.get("slow_threshold_s") or 0.0))
    by_state = {
        state: {
            "calls": sum(w[0] for w in found.values()),
            "process_s": sum(w[2] for w in found.values()),
        }
        for state, found in windows.items()
    }
    for found in by_state.values():
        found["calls_per_process_minute"] = (
            60.0 * found["calls"] / found["process_s"] if found["process_s"] else 0.0
        )
    if by_state.get(HEALTHY, {}).get("process_s", 0.0) >= MIN_PROCESS_S:
        states = [HEALTHY]
    else:
        states = sorted(s for s in windows if s not in STRAINED)
    # a process's window seen in several of the states is one window: its time counts once
    merged: dict[tuple[object, ...], list[float]] = {}
    for state in states:
        for seen, (calls, failures, window_s, timeout_s) in windows[state].items():
            acc = merged.setdefault(seen, [0.0, 0.0, window_s, 0.0])
            acc[0] += calls
            acc[1] += failures
            acc[3] = max(acc[3], timeout_s)
    rows = list(merged.values())
    timeouts = [w[3] for w in rows if w[3] > 0]
    return ProcessVolume(
        states=states,
        calls=np.array([w[0] for w in rows], dtype=np.float64),
        failures=np.array([w[1] for w in rows], dtype=np.float64),
        process_s=sum(w[2] for w in rows),
        timeout_s=max(timeouts) if timeouts else None,
        by_state=by_state,
    )


def per_process_threshold(
    volume: ProcessVolume, level: float, max_per_week: float
) -> dict[str, Any]:
    """The consecutive threshold for a process making `volume`'s calls: the smallest, from the
    built-in one, whose false opens in a process-week stay at or under `max_per_week` in
    FALSE_OPEN_LEVEL of process-weeks, at the failure rate's and the burstiness's upper bounds."""
    calls, failures = float(volume.calls.sum()), float(volume.failures.sum())
    rate_upper = upper_rate(failures, calls, level)
    index, index_upper = dispersion(volume.calls, volume.failures, level)
    correlation = burst_correlation(index_upper, volume.calls)
    per_week = volume.per_s * WEEK_S

    def bound(k: int) -> int:
        expected = run_false_opens(k, rate_upper, correlation, per_week)
        return int(poisson_quantile(FALSE_OPEN_LEVEL, expected))

    threshold = next(
        (
            k
            for k in range(BUILT_IN.failure_threshold, MAX_CONSECUTIVE + 1)
            if bound(k) <= max_per_week
        ),
        MAX_CONSECUTIVE,
    )
    expected = run_false_opens(threshold, rate_upper, correlation, per_week)
    go_on = rate_upper + correlation * (1.0 - rate_upper)
    return {
        "failure_threshold": threshold,
        "quiet_states": volume.states,
        "calls_per_process_minute": 60.0 * volume.per_s,
        "calls_per_process_week": per_week,
        "process_hours": volume.process_s / 3600.0,
        "calls": calls,
        "failure_rate": failures / calls if calls else 0.0,
        "failure_rate_upper": rate_upper,
        "dispersion": index,
        "dispersion_upper": index_upper,
        "burst_correlation": correlation,
        "mean_failure_run_calls": 1.0 / (1.0 - go_on) if go_on < 1.0 else None,
        "false_opens_per_process_week": expected,
        "false_opens_per_process_week_bound": int(poisson_quantile(FALSE_OPEN_LEVEL, expected)),
        "bound_level": FALSE_OPEN_LEVEL,
        "max_false_trips_per_process_week": max_per_week,
        "outage_opens_after_s": threshold / volume.per_s if volume.per_s else None,
        "by_state": volume.by_state,
    }


def threshold_basis(ev: dict[str, Any]) -> str:
    """What the threshold rests on: the volume it was calibrated on, or why it is built in."""
    found = ev["per_process"]
    if found is None:
        return "the runtime's built-in breaker: the lake shows no per-process call volume"
    outage = found["outage_opens_after_s"]
    return (
        f"calibrated per process at {found['calls_per_process_minute']:,.1f} calls a minute "
        f"(in {' or '.join(found['quiet_states'])}, {found['process_hours']:,.1f} "
        "process-hours of breaker_summary): "
        f"{found['false_opens_per_process_week']:.3g} false opens a process-week expected, at "
        f"most {found['false_opens_per_process_week_bound']} in "
        f"{found['bound_level']:.1%} of process-weeks; failures at "
        f"{100 * found['failure_rate_upper']:.2f} % (upper bound) in runs of "
        f"{found['mean_failure_run_calls'] or float('inf'):.1f} calls on average; an outage "
        "opens it after "
        + ("?" if outage is None else f"{outage:,.1f} s")
        + " of failed calls at this volume"
    )


def episode_wait(
    timeline: list[tuple[float, str]], *, start: float, end: float, states: frozenset[str]
) -> dict[str, Any]:
    """How long episodes of `states` last: the censored Kaplan-Meier median (with its 95 %
    interval) and p90, or the longest seen where the curve never gets that low."""
    lengths, ended = episodes(timeline, start=start, end=end, states=states)
    found: dict[str, Any] = {
        "states": sorted(states),
        "count": int(lengths.size),
        "censored": int((~ended).sum()),
        "median_s": None,
        "median_ci_s": [None, None],
        "p90_s": None,
        "longest_s": float(lengths.max()) if lengths.size else None,
    }
    if not ended.any():
        return found
    curve = KaplanMeier.fit(lengths, ended)
    found["median_s"] = curve.quantile(0.5)
    found["median_ci_s"] = list(curve.quantile_ci(0.5))
    found["p90_s"] = curve.quantile(0.9)
    return found


def _clamp_up(seconds: float, low: float, high: float) -> float:
    return float(min(max(math.ceil(seconds), low), high))


def _rule_evidence(rule: RateRule | None, strained_lower: float) -> dict[str, Any] | None:
    if rule is None:
        return None
    return {
        "window_calls": rule.window_calls,
        "minimum_calls": rule.minimum_calls,
        "threshold": rule.threshold,
        "false_trip_per_evaluation": rule.false_trip,
        "trip_probability_strained": rule.trip,
        # at the strained rate's lower confidence bound: what can be said with confidence
        "trip_probability_strained_lower": rule.trip_at(strained_lower),
    }


def _choose_window(
    quiet: float, strained: float, alpha: float, longest: int | None
) -> RateRule | None:
    """The shortest window (of WINDOWS, at most `longest` calls) whose full window of strained
    calls opens it with TRIP_TARGET or more; else the one most likely to."""
    allowed = [w for w in WINDOWS if longest is None or w <= longest] or [WINDOWS[0]]
    rules = [r for r in (rate_rule(w, quiet, strained, alpha) for w in allowed) if r]
    good = [r for r in rules if r.trip >= TRIP_TARGET]
    if good:
        return good[0]
    return max(rules, key=lambda r: r.trip, default=None)


def advise_breaker(
    groups: list[AttemptGroup],
    *,
    policy: Policy,
    rows: list[PhaseTimeout],
    start: datetime,
    end: datetime,
    lake: LakeEvidence,
) -> Breaker:
    """Settings for the dependency of `policy.breaker_phase`, for a breaker in each process."""
    level = 0.5 + policy.confidence / 2
    calls = [g for g in groups if g.phase == policy.breaker_phase] or groups
    env_rows = [r for r in rows if r.phase == policy.breaker_phase and r.service is None]
    startup = startup_rates(calls, env_rows, level)
    in_life = in_life_rates(lake.summaries or [], level)
    rates = {**startup, **in_life}
    quiet = rates.get(HEALTHY) or _pooled(list(rates.values()))
    strained_state = next(
        (s for s in ("critical", "pressure") if s in rates),
        max(rates, key=lambda s: rates[s].failure_rate),
    )
    strained = rates[strained_state]

    wait = episode_wait(
        lake.timeline or [], start=start.timestamp(), end=end.timestamp(), states=STRAINED
    )
    critical = episode_wait(
        lake.timeline or [],
        start=start.timestamp(),
        end=end.timestamp(),
        states=frozenset({"critical"}),
    )

    limits: list[str] = []
    per_week: float | None = None  # evaluations (quiet in-life calls) per process-week
    longest_window: int | None = None
    volume = process_volume(lake.summaries or [])
    calibrated = volume.process_s >= MIN_PROCESS_S
    if calibrated:
        per_week = volume.per_s * WEEK_S
        alpha = min(0.5, policy.max_false_trips_per_week / max(per_week, 1.0))
        strained_in_life = in_life.get(strained_state)
        episode_s = wait["median_s"] or wait["longest_s"]
        if strained_in_life and strained_in_life.exposure_s and episode_s:
            per_s = strained_in_life.calls / strained_in_life.exposure_s
            longest_window = max(WINDOWS[0], int(per_s * episode_s))
    else:
        alpha = FALSE_TRIP_PER_EVALUATION
        seen = (
            "no in-life calls (no breaker_summary events)"
            if not volume.process_s
            else f"in-life calls of quiet states over {volume.process_s / 3600:.2f} "
            f"process-hours only (under {MIN_PROCESS_S / 3600:g})"
        )
        limits.append(
            f"The lake holds {seen}: the breaker guards every database call of a process, "
            "and how many a process makes decides how often healthy failures open it (a "
            "threshold fitted to a week of startup calls opens dozens of times a week in a "
            "process making a call a second). So the runtime's built-in breaker ships "
            f"({BUILT_IN.failure_threshold} failures in a row, {BUILT_IN.recovery_timeout_s:g} "
            "s), which no config is less safe than; the rate rules below (false trips held "
            f"to {FALSE_TRIP_PER_EVALUATION:g} per evaluation, minimum_calls and window_calls "
            "not checked against in-life volume) are evidence only. The advice fits the "
            "breaker once the runtime's breaker_summary events are in the lake."
        )
    # the failure and the slow-call rules share the false-trip allowance
    failure_rule = _choose_window(
        quiet.failure_upper, strained.failure_rate, alpha / 2, longest_window
    )
    slow_quiet = max(r.slow_upper for r in rates.values())
    window = failure_rule.window_calls if failure_rule else WINDOWS[1]
    slow_rule = rate_rule(window, slow_quiet, strained.slow_rate, alpha / 2)
    minimum = max(
        failure_rule.minimum_calls if failure_rule else 1,
        slow_rule.minimum_calls if slow_rule else 1,
    )
    if failure_rule and failure_rule.trip < TRIP_TARGET:
        limits.append(
            f"A full window of {strained_state} calls opens it with probability "
            f"{failure_rule.trip:.2f} only: the {strained_state} failure rate "
            f"({strained.failure_rate:.1%}) is too close to the healthy one "
            f"({quiet.failure_upper:.1%} at its upper bound) for a window of "
            f"{failure_rule.window_calls} calls."
        )
    limits.append(
        "Slow calls are measured against each state's own recommended timeout, so in every "
        "state of the window the slow-call rate is about the target timeout rate: the "
        "slow-call rule opens for a dependency slower than anything in the window, not for a "
        "state the timeouts already cover."
    )

    # The threshold: for one process, from the calls it makes and how their failures come;
    # without that volume, the runtime's built-in breaker.
    per_process = (
        per_process_threshold(volume, level, policy.max_false_trips_per_week)
        if calibrated
        else None
    )

    # The wait grows to how long a strained episode lasts; it starts at the time one probe may
    # take: a false trip then keeps the service off its database that long, not an episode's.
    # A probe is one of the calls the breaker guards: the in-life calls' timeout where the
    # summaries say it, else the phase's longest recommended timeout.
    longest_call = (volume.timeout_s if calibrated else None) or max(
        (r.timeout_s or 0.0 for r in env_rows), default=0.0
    )
    max_half_open = _clamp_up(1.1 * (longest_call or policy.ceiling_s), 1.0, MAX_RECOVERY_TIMEOUT_S)
    wanted = wait["median_s"] if wait["median_s"] is not None else wait["longest_s"]
    max_recovery: float | None
    if wanted is not None:
        max_recovery = _clamp_up(wanted, *RECOVERY_BOUNDS_S)
        max_source = (
            "Kaplan-Meier median of pressure-or-critical episodes"
            if wait["median_s"] is not None
            else "the longest pressure-or-critical episode (none ended: at least this long)"
        )
        if wanted > RECOVERY_BOUNDS_S[1]:
            max_source += f" ({wanted:,.0f} s, held at the {RECOVERY_BOUNDS_S[1]:g} s cap)"
        recovery = min(max(DEFAULT_RECOVERY_S, max_half_open), max_recovery)
        source = (
            "the longest a probe may take (max_half_open_s), at least the built-in "
            f"{DEFAULT_RECOVERY_S:g} s, at most max_recovery_timeout_s"
        )
    else:
        max_recovery, recovery = DEFAULT_MAX_RECOVERY_S, DEFAULT_RECOVERY_S
        max_source = source = (
            "default (no VPC state timeline)"
            if lake.timeline is None
            else "default (no pressure or critical episode in the VPC timeline)"
        )
    if per_process is None:  # the built-in breaker, as a service with no config runs it
        recovery, max_recovery = BUILT_IN.recovery_timeout_s, None
        source = max_source = "the runtime's built-in breaker (no per-process volume)"
    probes_failed = _probes_failed(
        recovery,
        max_recovery or recovery,
        wait["median_s"],
        BACKOFF_MULTIPLIER if per_process else BUILT_IN.backoff_multiplier,
    )
    if per_process is not None:
        # a false open refuses the calls a process makes while it waits in OPEN
        per_process["refused_calls_per_false_open"] = volume.per_s * recovery
        if per_process["false_opens_per_process_week_bound"] > policy.max_false_trips_per_week:
            limits.append(
                f"Even {MAX_CONSECUTIVE} failures in a row open it on healthy calls more than "
                f"--max-false-trips ({policy.max_false_trips_per_week:g}) a process-week: "
                f"the quiet calls fail too often or in too long runs "
                f"({per_process['failure_rate_upper']:.2%} at the upper bound, in runs of "
                f"{per_process['mean_failure_run_calls'] or float('inf'):.1f} calls on "
                "average) for a consecutive breaker to tell them from an outage."
            )

    return Breaker(
        failure_threshold=(
            per_process["failure_threshold"] if per_process else BUILT_IN.failure_threshold
        ),
        recovery_timeout_s=recovery,
        half_open_max_calls=(
            policy.half_open_max_calls if per_process else BUILT_IN.half_open_max_calls
        ),
        mode="consecutive",
        backoff_multiplier=BACKOFF_MULTIPLIER if per_process else None,
        max_recovery_timeout_s=max_recovery,
        max_half_open_s=max_half_open if per_process else None,
        evidence={
            "phase": policy.breaker_phase,
            "calls": int(sum(g.size for g in calls)),
            "in_life": {
                "summaries": None if lake.summaries is None else len(lake.summaries),
                "calls": sum(r.calls for r in in_life.values()),
                "evaluations_per_process_week": per_week,
            },
            "per_process": per_process,
            "rates_by_state": {s: rates[s].as_evidence() for s in sorted(rates)},
            "quiet_state": HEALTHY if HEALTHY in rates else "all states pooled",
            "strained_state": strained_state,
            "false_trip_per_evaluation": alpha,
            "false_trip_target": (
                f"{policy.max_false_trips_per_week:g} per process-week"
                if per_week is not None
                else f"{FALSE_TRIP_PER_EVALUATION:g} per evaluation (no in-life volume)"
            ),
            "expected_false_trips_per_process_week": (
                None
                if per_week is None or failure_rule is None
                else per_week
                * (failure_rule.false_trip + (slow_rule.false_trip if slow_rule else 0.0))
            ),
            "failure_rule": _rule_evidence(failure_rule, strained.failure_lower),
            "slow_rule": _rule_evidence(slow_rule, 0.0),
            "rate_mode": {  # evidence only: what a rate-mode breaker would take
                "window_calls": window,
                "minimum_calls": minimum,
                "failure_rate_threshold": failure_rule.threshold if failure_rule else 1.0,
                "slow_call_rate_threshold": slow_rule.threshold if slow_rule else 1.0,
            },
            "episodes": wait,
            "critical_episodes": critical,
            "recovery_timeout_source": source,
            "max_recovery_timeout_source": max_source,
            # what the wait costs: a false trip keeps calls off the database this long; a
            # strained episode of the median length sees this many failed probes
            "false_trip_open_s": recovery,
            "probes_failed_in_a_median_episode": probes_failed,
            "limits": limits,
            "model": MODEL,
        },
    )


def _probes_failed(
    first_s: float, cap_s: float, episode_s: float | None, multiplier: float
) -> int | None:
    """Half-open probes an episode of `episode_s` fails when the breaker opens at its start
    and the wait grows by `multiplier` from `first_s` up to `cap_s`."""
    if episode_s is None:
        return None
    failed, at, wait = 0, first_s, first_s
    while at < episode_s:
        failed += 1
        wait = min(wait * multiplier, cap_s)
        at += wait
    return failed


def _pooled(found: list[StateRates]) -> StateRates:
    """All states' calls as one (no healthy state in the window): the least favourable bounds."""
    n = sum(r.calls for r in found) or 1.0
    return StateRates(
        calls=n,
        failure_rate=sum(r.failure_rate * r.calls for r in found) / n,
        failure_lower=min((r.failure_lower for r in found), default=0.0),
        failure_upper=max((r.failure_upper for r in found), default=1.0),
        slow_rate=sum(r.slow_rate * r.calls for r in found) / n,
        slow_upper=max((r.slow_upper for r in found), default=1.0),
        source="all states pooled",
    )
