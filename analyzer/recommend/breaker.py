"""Circuit-breaker settings for a phase's dependency, for a breaker that lives in one process:
rate rules from the calls' failure and slow-call rates under the recommended timeouts, the wait
in OPEN from how long strained episodes of the VPC timeline last."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from analyzer.analysis.attempts import AttemptGroup
from analyzer.analysis.stats import (
    KaplanMeier,
    episodes,
    failure_threshold,
    lower_rate,
    rate_rule,
    upper_rate,
)
from analyzer.analysis.stats.breaker import RateRule, expected_false_trips
from analyzer.engine import Engine, QuestionNotAnswered
from analyzer.recommend.model import Breaker, PhaseTimeout
from analyzer.recommend.policy import Policy
from analyzer.runtime.schema import MAX_RECOVERY_TIMEOUT_S

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
MODEL = (
    "Rate mode (recommended where the lake holds in-life calls; else the consecutive mode, "
    "failure_threshold failures in a row, with the same wait and backoff): over the last "
    "window_calls calls of a process (in-life calls, not only its one "
    "startup call), once minimum_calls are in the window, a share of failed calls at or over "
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
    state; oldest first) and the in-life `breaker_summary` rows; None where the engine has no
    answer to the question."""

    timeline: list[tuple[float, str]] | None
    summaries: list[dict[str, Any]] | None


def lake_evidence(engine: Engine, env: str, start: datetime, end: datetime) -> LakeEvidence:
    params = {"env": env, "start": start, "end": end}
    try:
        timeline = [
            (_epoch(r["ts"]), str(r["vpc_state"])) for r in engine.rows("vpc_timeline", params)
        ]
    except QuestionNotAnswered:
        timeline = None
    try:
        summaries: list[dict[str, Any]] | None = engine.rows("breaker_summaries", params)
    except QuestionNotAnswered:
        summaries = None
    return LakeEvidence(timeline=timeline, summaries=summaries)


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

    window_s = (end - start).total_seconds()
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
    exposure = in_life[HEALTHY].exposure_s if HEALTHY in in_life else None
    if exposure:
        per_week = in_life[HEALTHY].calls / (exposure / WEEK_S)
        alpha = min(0.5, policy.max_false_trips_per_week / max(per_week, 1.0))
        strained_in_life = in_life.get(strained_state)
        episode_s = wait["median_s"] or wait["longest_s"]
        if strained_in_life and strained_in_life.exposure_s and episode_s:
            per_s = strained_in_life.calls / strained_in_life.exposure_s
            longest_window = max(WINDOWS[0], int(per_s * episode_s))
    else:
        alpha = FALSE_TRIP_PER_EVALUATION
        limits.append(
            "The lake holds no in-life calls (no breaker_summary events): each process makes "
            "one startup call of the phase, so a rate window fills only from the calls a "
            "process makes in its life, and nothing says a process makes minimum_calls of "
            "them (one that makes fewer would never open its breaker). So the consecutive "
            "mode is recommended, with the failure threshold from the startup calls' rates "
            "under the recommended timeouts; the rate rules below (false trips held to "
            f"{FALSE_TRIP_PER_EVALUATION:g} per evaluation, minimum_calls and window_calls "
            "not checked against in-life volume) are evidence only, and become the "
            "recommendation once the runtime's breaker_summary events are in the lake."
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

    # consecutive mode: calls a week in healthy periods, per process where in-life calls say
    consecutive_calls = per_week if per_week is not None else quiet.calls / (window_s / WEEK_S)
    threshold = failure_threshold(
        quiet.failure_upper, consecutive_calls, policy.max_false_trips_per_week
    )

    # The wait grows to how long a strained episode lasts; it starts at the time one probe may
    # take: a false trip then keeps the service off its database that long, not an episode's.
    longest_call = max((r.timeout_s or 0.0 for r in env_rows), default=0.0) or policy.ceiling_s
    max_half_open = _clamp_up(1.1 * longest_call, 1.0, MAX_RECOVERY_TIMEOUT_S)
    wanted = wait["median_s"] if wait["median_s"] is not None else wait["longest_s"]
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
    probes_failed = _probes_failed(recovery, max_recovery, wait["median_s"])

    # The rate mode only where in-life volume shows a process makes the calls it needs.
    rated = per_week is not None
    return Breaker(
        failure_threshold=threshold,
        recovery_timeout_s=recovery,
        half_open_max_calls=policy.half_open_max_calls,
        mode="rate" if rated else "consecutive",
        window_calls=window if rated else None,
        window_s=None,
        minimum_calls=minimum if rated else None,
        failure_rate_threshold=(failure_rule.threshold if failure_rule else 1.0) if rated else None,
        slow_call_rate_threshold=(slow_rule.threshold if slow_rule else 1.0) if rated else None,
        slow_call_s=None,
        backoff_multiplier=BACKOFF_MULTIPLIER,
        max_recovery_timeout_s=max_recovery,
        max_half_open_s=max_half_open,
        evidence={
            "phase": policy.breaker_phase,
            "calls": int(sum(g.size for g in calls)),
            "in_life": {
                "summaries": None if lake.summaries is None else len(lake.summaries),
                "calls": sum(r.calls for r in in_life.values()),
                "evaluations_per_process_week": per_week,
            },
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
            "consecutive": {
                "failure_threshold": threshold,
                "healthy_failure_rate": quiet.failure_upper,
                "calls_per_week": consecutive_calls,
                "expected_false_trips_per_week": expected_false_trips(
                    threshold, quiet.failure_upper, consecutive_calls
                ),
                "max_false_trips_per_week": policy.max_false_trips_per_week,
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


def _probes_failed(first_s: float, cap_s: float, episode_s: float | None) -> int | None:
    """Half-open probes an episode of `episode_s` fails when the breaker opens at its start
    and the wait doubles from `first_s` up to `cap_s`."""
    if episode_s is None:
        return None
    failed, at, wait = 0, first_s, first_s
    while at < episode_s:
        failed += 1
        wait = min(wait * BACKOFF_MULTIPLIER, cap_s)
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
