"""What the numbers cannot say: the warnings a recommendation carries, each naming its state."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from analyzer.analysis.attempts import AttemptGroup
from analyzer.analysis.estimate import DurationEstimate, estimate_durations
from analyzer.analysis.stats.logrank import LogRankPool, by_duration
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
# A key whose attempts were this much cut (timeouts and errors) says little beyond "longer
# than the cut".
MOSTLY_CUT = 0.9
UNKNOWN = "unknown"
DAY_S = 86400.0


def _seconds(value: float) -> str:
    return f"{value:,.1f} s"


def _percent(value: float) -> str:
    return f"{100 * value:.2f} %"


def row_warnings(
    row: PhaseTimeout,
    estimate: DurationEstimate,
    group: AttemptGroup,
    policy: Policy,
) -> list[RecommendationWarning]:
    """The warnings of one phase, operation and VPC state."""
    if row.timeout_s is None or estimate.curve is None:
        return []
    found: list[tuple[WarningKind, str]] = []
    where = _where(row)
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
        if _mostly_cut(row):
            found.append(("all-cut", _all_cut_message(row, policy)))
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
    return [_warning(row, kind, m) for kind, m in found]


def _where(row: PhaseTimeout) -> str:
    return (f"{row.service} " if row.service else "") + (
        f"phase {row.phase} {row.operation} {row.vpc_state}"
    )


def _warning(row: PhaseTimeout, kind: WarningKind, message: str) -> RecommendationWarning:
    return RecommendationWarning(
        kind=kind,
        service=row.service,
        phase=row.phase,
        operation=row.operation,
        vpc_state=row.vpc_state,
        message=message,
    )


def _mostly_cut(row: PhaseTimeout) -> bool:
    return row.attempts > 0 and row.censored >= MOSTLY_CUT * row.attempts


def _all_cut_message(row: PhaseTimeout, policy: Policy) -> str:
    at = f" (the timeout in force: {row.current_timeout_s:g} s)" if row.current_timeout_s else ""
    value = f"{row.timeout_s:g} s" + (" (the ceiling)" if row.timeout_s == policy.ceiling_s else "")
    return (
        f"{_where(row)}: {row.censored} of {row.attempts} attempts were cut{at}: they say only "
        f"that it takes longer, and vouch for no timeout above the cut, so {value}, not an "
        "untested default; run with this timeout for a week and measure again"
    )


def thin_evidence_warnings(row: PhaseTimeout, policy: Policy) -> list[RecommendationWarning]:
    """The warning of a key settled without a number of its own that has attempts (see
    `PhaseTimeout.own_bound_s`): what its few attempts bound and what it keeps."""
    if row.own_bound_s is None or row.timeout_s is None:
        return []
    if _mostly_cut(row):
        return [_warning(row, "all-cut", _all_cut_message(row, policy))]
    kept = (
        "its own bound"
        if row.source == "recommended"
        else f"the {row.source} value, which its attempts do not show too short"
    )
    return [
        _warning(
            row,
            "thin-evidence",
            f"{_where(row)}: {row.attempts} attempts, under --min-attempts {policy.min_attempts}: "
            f"their upper band at {100 * policy.confidence:g} % asks for at least "
            f"{row.own_bound_s:g} s; it keeps {row.timeout_s:g} s, {kept}",
        )
    ]


@dataclass(frozen=True)
class Drift:
    """A change in a key's durations within the window: where, and the evidence."""

    at_s: float  # epoch seconds: the change point (a UTC midnight)
    p_value: float  # the log-rank test that found it (corrected for the splits tried)
    split: str  # which split found it: the window's halves or thirds
    medians_s: tuple[float | None, float | None]  # before and since
    since: int  # attempts since the change point


# The splits tried, as shares of the window: its halves (one comparison, the long-standing
# check) and its thirds (a change later or earlier than the middle, Bonferroni-corrected).
SPLITS = {"halves": (0.5,), "thirds": (1 / 3, 2 / 3)}


def _split_ps(group: AttemptGroup, at_s: list[float], least: int) -> list[float | None]:
    """The two-sided log-rank p of the attempts since each of `at_s` against those before
    (every split from one sort of the group's attempts); None where either side has fewer
    than `least` attempts."""
    t, d, c, order = by_duration(
        group.duration_s, group.observed, group.counts, group.duration_order
    )
    pool, positions = LogRankPool.of_sorted_with_positions(t, d, c)
    started = group.started_s[order]
    total = c.sum()  # whole numbers: the sums below are exact, whatever their order
    found: list[float | None] = []
    for at in at_s:
        since = started >= at
        counts_since = c[since]
        attempts_since = counts_since.sum()
        if min(attempts_since, total - attempts_since) < least:
            found.append(None)
            continue
        part = pool.sorted_part_against_rest(t[since], d[since], counts_since, positions[since])
        found.append(part.p_two_sided)
    return found


def find_drift(group: AttemptGroup, policy: Policy, start: datetime, end: datetime) -> Drift | None:
    """Whether the key's durations changed within the window, by the log-rank test
    (censoring-aware, so a timeout raised mid-window is not a change) of its halves, then of
    its thirds, at p < `DRIFT_P` (split by the number of splits); where one fires, the change
    point is the UTC midnight near that split that the test separates best (see
    `_change_point`). Attempts read as counts know their day only: a day goes to the side its
    middle falls in."""
    begin, finish = start.timestamp(), end.timestamp()
    shares = [s for split in SPLITS.values() for s in split]
    found = dict(
        zip(
            shares,
            _split_ps(group, [begin + s * (finish - begin) for s in shares], policy.min_attempts),
            strict=True,
        )
    )
    for name, split in SPLITS.items():
        tried = [(p * len(split), s) for s in split if (p := found[s]) is not None]
        if not tried or min(tried)[0] >= DRIFT_P:
            continue
        p_value, share = min(tried)
        at_s = _change_point(group, begin + share * (finish - begin), begin, finish, policy)
        since = group.started_s >= at_s
        medians = tuple(
            estimate_durations(
                group.duration_s[part],
                group.observed[part],
                min_attempts=1,
                counts=None if group.counts is None else group.counts[part],
            ).quantile(0.5)[0]
            for part in (~since, since)
        )
        return Drift(at_s, p_value, name, (medians[0], medians[1]), group.attempts_where(since))
    return None


def _change_point(
    group: AttemptGroup, near_s: float, begin: float, finish: float, policy: Policy
) -> float:
    """The UTC midnight within a sixth of the window of `near_s` whose split the log-rank
    test separates best (smallest p), `near_s`'s own midnight where none can be tested."""
    reach = (finish - begin) / 6
    first = math.ceil(max(begin, near_s - reach) / DAY_S) * DAY_S
    days = [float(at) for at in np.arange(first, min(finish, near_s + reach), DAY_S)]
    ps = _split_ps(group, days, policy.min_attempts)
    tried = [(p, at) for p, at in zip(ps, days, strict=True) if p is not None]
    return min(tried)[1] if tried else math.floor(near_s / DAY_S) * DAY_S


def drift_warning(
    row: PhaseTimeout, drift: Drift, start: datetime, end: datetime
) -> RecommendationWarning:
    """The drift the run responded to: where the key's window now starts, and why."""
    told = " then ".join("beyond the data" if m is None else _seconds(m) for m in drift.medians_s)
    day = datetime.fromtimestamp(drift.at_s, UTC).strftime("%Y-%m-%d")
    days = (end - start).total_seconds() / 86400
    return _warning(
        row,
        "drift",
        f"{_where(row)}: the attempts changed around {day} (log-rank p = {drift.p_value:.1g} "
        f"over the window's {drift.split}; median {told}): this state's window starts at the "
        f"change point, {drift.since} attempts since; --half-life {max(days / 8, 1):.0f}d "
        "weighs the whole window instead",
    )


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


__all__ = ["collect_warnings", "drift_warning", "find_drift", "row_warnings"]
