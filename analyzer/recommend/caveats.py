"""What the numbers cannot say: the warnings a recommendation carries, each naming its state."""

from __future__ import annotations

from datetime import datetime

from analyzer.analysis.attempts import AttemptGroup
from analyzer.analysis.estimate import DurationEstimate, estimate_durations
from analyzer.analysis.stats.logrank import logrank
from analyzer.recommend.model import PhaseTimeout, RecommendationWarning, WarningKind
from analyzer.recommend.policy import Policy

# A quantile or timeout this many times the longest completed duration is the fit's alone.
FAR_BEYOND = 1.5
# The fitted lognormal strays from the curve inside the data by more than this many standard
# errors: on lognormal data that happens in under 1 % of samples of 50 to 1,000 attempts.
MISFIT_SE = 3.3
# The window's halves differ when the log-rank test's p-value is under this (one comparison
# per group of attempts, a dozen or so per run: about one false alarm in a hundred runs).
DRIFT_P = 0.001
UNKNOWN = "unknown"


def _seconds(value: float) -> str:
    return f"{value:,.1f} s"


def _percent(value: float) -> str:
    return f"{100 * value:.2f} %"


def row_warnings(
    row: PhaseTimeout,
    estimate: DurationEstimate,
    group: AttemptGroup,
    policy: Policy,
    *,
    start: datetime | None,
    end: datetime,
) -> list[RecommendationWarning]:
    """The warnings of one phase, operation and VPC state."""
    if row.timeout_s is None or estimate.curve is None:
        return []
    found: list[tuple[WarningKind, str]] = []
    where = (f"{row.service} " if row.service else "") + (
        f"phase {row.phase} {row.operation} {row.vpc_state}"
    )
    # Raising a timeout to the floor only lengthens it: the row says so, no warning.
    if row.clamped == "ceiling":
        asked = (
            f"the policy asks for {_seconds(row.raw_timeout_s)}"
            if row.raw_timeout_s is not None
            else "the data cannot bound it (the band never gets that low)"
        )
        found.append(
            ("clamped", f"{where}: timeout clamped to the ceiling {row.timeout_s:g} s; {asked}")
        )
    longest = float(group.duration_s[group.observed].max()) if group.observed.any() else 0.0
    candidates = {
        f"p{100 * policy.target_quantile:g}": estimate.quantile(policy.target_quantile)[0],
        "the timeout the policy asks for": row.raw_timeout_s,
    }
    far = {k: v for k, v in candidates.items() if v is not None and v > FAR_BEYOND * longest}
    if far and longest > 0 and row.clamped != "floor":  # the floor is longer anyway
        name, value = max(far.items(), key=lambda kv: kv[1] or 0.0)
        assert value is not None
        found.append(
            (
                "beyond-data",
                f"{where}: {name} ({_seconds(value)}) is {value / longest:.1f}x the longest "
                f"completed duration ({_seconds(longest)}): only the fitted lognormal reaches it",
            )
        )
    rate, target = row.timeout_rate_recommended, policy.tolerated_rate
    if rate is not None and rate > target + 1e-12:
        found.append(
            (
                "above-target",
                f"{where}: predicted timeout rate under {row.timeout_s:g} s is {_percent(rate)}, "
                f"above the target {_percent(target)}",
            )
        )
    gap_se, gap_at = estimate.curve.disagreement()
    if gap_se > MISFIT_SE:
        found.append(
            (
                "fit-disagrees",
                f"{where}: the fitted lognormal strays from the Kaplan-Meier curve inside the data "
                f"({gap_se:.1f} standard errors at {_seconds(gap_at)}); the tail beyond the "
                "data, and any quantile read from it, may be wrong",
            )
        )
    if start is not None and policy.half_life_days is None:
        found.extend(_drift(group, policy, start, end, where))
    return [
        RecommendationWarning(
            kind=kind,
            service=row.service,
            phase=row.phase,
            operation=row.operation,
            vpc_state=row.vpc_state,
            message=m,
        )
        for kind, m in found
    ]


def _drift(
    group: AttemptGroup, policy: Policy, start: datetime, end: datetime, where: str
) -> list[tuple[WarningKind, str]]:
    """The window's first and second halves compared by the log-rank test (censoring-aware,
    so a timeout raised mid-window does not count as a change). Attempts read as counts know
    their day only: a day goes to the half its middle falls in."""
    middle = (start.timestamp() + end.timestamp()) / 2
    second = group.started_s >= middle
    if min(group.attempts_where(second), group.attempts_where(~second)) < policy.min_attempts:
        return []
    first = ~second
    counts = group.counts
    p_value = logrank(
        group.duration_s[first],
        group.observed[first],
        group.duration_s[second],
        group.observed[second],
        None if counts is None else counts[first],
        None if counts is None else counts[second],
    ).p_two_sided
    if p_value >= DRIFT_P:
        return []
    medians = [
        estimate_durations(
            group.duration_s[part],
            group.observed[part],
            min_attempts=1,
            counts=None if counts is None else counts[part],
        ).quantile(0.5)[0]
        for part in (~second, second)
    ]
    told = " then ".join("beyond the data" if m is None else _seconds(m) for m in medians)
    days = (end - start).total_seconds() / 86400
    return [
        (
            "drift",
            f"{where}: the window's first and second halves differ (log-rank p = {p_value:.1g}; "
            f"median {told}): weigh recent attempts more with --half-life "
            f"{max(days / 8, 1):.0f}d, or shorten --since",
        )
    ]


def collect_warnings(
    rows: list[PhaseTimeout], policy: Policy, states_read: int
) -> list[RecommendationWarning]:
    """Every row's warnings once (the `unknown` row repeats another state's), then the note on
    reading several states together."""
    seen: dict[str, RecommendationWarning] = {}
    for row in rows:
        for w in row.warnings:
            seen.setdefault(w.message, w)
    found = list(seen.values())
    if states_read > 1 and not policy.joint:
        joint = policy.confidence**states_read
        each = policy.confidence ** (1 / states_read)
        found.append(
            RecommendationWarning(
                kind="joint-coverage",
                message=(
                    f"{states_read} VPC states are read together: each state's "
                    f"{100 * policy.confidence:g} % bound holds alone, all {states_read} at once "
                    f"only with about {100 * joint:.0f} % (Sidak, the states' attempts being "
                    f"disjoint); --joint sets each to {100 * each:.1f} % so they hold together"
                ),
            )
        )
    return found


__all__ = ["collect_warnings", "row_warnings"]
