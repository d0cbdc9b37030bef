"""When the connector strains: a VPC state timeline cut into hours of the week, the trend week
over week and the strained episodes' lengths. Numbers in, numbers out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

# The states in which the connector is strained (`healthy` and `unknown` are not).
STRAINED_STATES = frozenset({"pressure", "scaling", "critical"})
HOURS_A_WEEK = 168
HOUR_S = 3600.0
WEEK_S = 7 * 86400.0
# An hour with less of its time in a known state than this is left out (NaN), not read as quiet.
MIN_KNOWN_S = 1800.0


@dataclass(frozen=True)
class Hours:
    """A window cut into whole hours of a zone, oldest first: each hour's start (UTC epoch
    seconds), its hour of week (0 = Monday 00:00 in the zone), its age in weeks counted back from
    the window's end (0 = the last week), and the seconds it spent strained and in a known
    state."""

    start_s: NDArray[np.float64]
    hour_of_week: NDArray[np.intp]
    age_weeks: NDArray[np.intp]
    strained_s: NDArray[np.float64]
    known_s: NDArray[np.float64]

    @property
    def share(self) -> NDArray[np.float64]:
        """Each hour's strained share of its known time; NaN where too little is known."""
        with np.errstate(invalid="ignore", divide="ignore"):
            share = self.strained_s / self.known_s
        return np.where(self.known_s >= MIN_KNOWN_S, share, np.nan)


def timeline_states(
    timeline: Sequence[tuple[float, str]], *, origin_s: float
) -> list[tuple[float, str, float | None]]:
    """A drawn timeline of (seconds from `origin_s`, state in force from then) as the
    (began, state, until) rows `cut_hours` reads, in epoch seconds (the last until None)."""
    ends: list[float | None] = [origin_s + t for t, _ in timeline[1:]]
    return [(origin_s + t, s, e) for (t, s), e in zip(timeline, [*ends, None], strict=True)]


def cut_hours(
    states: Sequence[tuple[float, str, float | None]], *, start_s: float, end_s: float, zone: str
) -> Hours:
    """The hours of [start_s, end_s) in `zone` (whole local hours; the first and last partial
    hours dropped), from a timeline of (began, state, until) in epoch seconds (until None: in
    force to the end)."""
    tz = ZoneInfo(zone)
    local = datetime.fromtimestamp(start_s, tz)
    first = local.replace(minute=0, second=0, microsecond=0)
    if first.timestamp() < start_s:
        first += timedelta(hours=1)
    first_s = first.timestamp()
    count = max(0, int((end_s - first_s) // HOUR_S))
    edges = first_s + HOUR_S * np.arange(count + 1, dtype=np.float64)
    strained = _time_in(states, edges, lambda s: s in STRAINED_STATES, end_s)
    known = _time_in(states, edges, lambda s: s != "unknown", end_s)
    starts = edges[:-1]
    labels = np.array(
        [_hour_of_week(datetime.fromtimestamp(s, tz)) for s in starts], dtype=np.intp
    ).reshape(-1)
    age = ((count - 1 - np.arange(count)) // HOURS_A_WEEK).astype(np.intp)
    return Hours(starts, labels, age, strained, known)


def _hour_of_week(moment: datetime) -> int:
    return moment.weekday() * 24 + moment.hour


def _time_in(
    states: Sequence[tuple[float, str, float | None]],
    edges: NDArray[np.float64],
    counted: Callable[[str], bool],
    end_s: float,
) -> NDArray[np.float64]:
    """Seconds of each [edges[i], edges[i+1]) spent in a state `counted` accepts: the
    cumulative time in such states, read at the edges."""
    if len(edges) < 2:
        return np.zeros(0)
    xs, ys, total = [edges[0]], [0.0], 0.0
    for began, state, until in states:
        stop = end_s if until is None else min(until, end_s)
        began = max(began, float(edges[0]))
        if stop <= began:
            continue
        if counted(state):
            xs.append(began)
            ys.append(total)
            total += stop - began
            xs.append(stop)
            ys.append(total)
    cumulative = np.interp(edges, np.array(xs), np.array(ys))
    return np.diff(cumulative)


def hour_of_week_shares(hours: Hours) -> NDArray[np.float64]:
    """The history's strained share of each hour of the week (time-weighted over the weeks;
    NaN for an hour never known)."""
    known = hours.known_s >= MIN_KNOWN_S
    strained = np.bincount(
        hours.hour_of_week[known], weights=hours.strained_s[known], minlength=HOURS_A_WEEK
    )
    seen = np.bincount(
        hours.hour_of_week[known], weights=hours.known_s[known], minlength=HOURS_A_WEEK
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(seen > 0, strained / seen, np.nan)


@dataclass(frozen=True)
class Trend:
    """The strained share of each week (oldest first; weeks mostly unseen left out), its slope
    in share per week and that slope's standard error; `direction` says whether strain grows."""

    weekly_share: list[float]
    slope_per_week: float | None
    slope_se: float | None
    direction: str  # 'growing' | 'shrinking' | 'steady' | 'too little history'


def weekly_trend(hours: Hours) -> Trend:
    """Least squares of the weekly strained share on the week: growing or shrinking only when
    the slope differs from 0 at the 5 % level (Student's t on n - 2 degrees of freedom), on
    three weeks or more."""
    from scipy.special import stdtrit

    ages = sorted({int(a) for a in hours.age_weeks}, reverse=True)
    shares = []
    for age in ages:
        mine = hours.age_weeks == age
        known = float(hours.known_s[mine].sum())
        if known >= 0.5 * WEEK_S:  # a week mostly unseen says nothing of its strain
            shares.append(float(hours.strained_s[mine].sum()) / known)
    if len(shares) < 3:
        return Trend(shares, None, None, "too little history")
    y = np.array(shares)
    x = np.arange(len(y), dtype=np.float64)
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    se = float(np.sqrt(residual @ residual / (len(y) - 2) / ((x - x.mean()) ** 2).sum()))
    direction = "steady"
    if abs(slope) > float(stdtrit(len(y) - 2, 0.975)) * se:
        direction = "growing" if slope > 0 else "shrinking"
    return Trend(shares, float(slope), se, direction)


@dataclass(frozen=True)
class Episodes:
    """Strained episodes (consecutive strained states, one episode): how many, how many were
    cut by the window's ends (their length is only a lower bound), and the lengths of the whole
    ones in seconds."""

    count: int
    cut_by_window: int
    median_s: float | None
    p90_s: float | None
    longest_s: float | None


def strained_episodes(
    states: Sequence[tuple[float, str, float | None]], *, start_s: float, end_s: float
) -> Episodes:
    """The timeline's strained episodes within [start_s, end_s)."""
    lengths: list[float] = []
    cut = 0
    began: float | None = None
    began_cut = False
    for at, state, until in states:
        if state in STRAINED_STATES:
            if began is None:
                began, began_cut = max(at, start_s), at < start_s
            if until is None or until >= end_s:
                cut += 1
                began = None
            continue
        if began is not None:
            if began_cut:
                cut += 1
            else:
                lengths.append(at - began)
            began = None
    whole = np.array(lengths)
    if len(whole) == 0:
        return Episodes(cut, cut, None, None, None)
    return Episodes(
        count=len(whole) + cut,
        cut_by_window=cut,
        median_s=float(np.median(whole)),
        p90_s=float(np.quantile(whole, 0.9)),
        longest_s=float(whole.max()),
    )
