"""`analyze capacity`: the env's VPC timeline and startups asked of the engine, and the
numbers of `when`, `forecast` and `costs` put together with the what-ifs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from analyzer.analysis.fleet import check_services
from analyzer.analysis.window import resolve_window
from analyzer.capacity.costs import ServiceStartups, StrainCost, strain_cost
from analyzer.capacity.forecast import Backtest, backtest, seasonal_forecast
from analyzer.capacity.model import (
    Capacity,
    ForecastBacktest,
    HourOfWeek,
    ServiceCost,
    StrainEpisodes,
    StrainTrend,
    WhatIf,
)
from analyzer.capacity.when import (
    HOURS_A_WEEK,
    STRAINED_STATES,
    WEEK_S,
    cut_hours,
    hour_of_week_shares,
    strained_episodes,
    weekly_trend,
)
from analyzer.engine import Engine
from analyzer.errors import AnalyzerError
from analyzer.timewindow import Window

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Hours of the week expected this strained or more are where min-instances would pay.
BUSY_SHARE = 0.5
DEPLOY_WINDOW_HOURS = 3


def check_zone(zone: str) -> str:
    """An IANA time zone name (`Europe/Berlin`, `UTC`), else a usage error."""
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(zone)
    except (ValueError, KeyError):
        raise AnalyzerError(
            f"unknown time zone {zone!r}: use an IANA name like UTC, Europe/Berlin or "
            "America/New_York",
            exit_code=2,
        ) from None
    return zone


def capacity(
    *, engine: Engine, env: str, service: str | None = None, since: str = "8w", zone: str = "UTC"
) -> Capacity:
    """When the env's VPC connector strains (by hour of the week in `zone`), whether it grows,
    next week's forecast where it earns its place, what strain costs (each service, or
    `service`) and what would buy it back."""
    check_zone(zone)
    if service:
        check_services(engine, env, (service,))
    start, end = resolve_window(engine, env, since=since, until=None)
    params = {"env": env, "start": start, "end": end}
    startups = engine.rows("capacity_startups", params)
    over = engine.rows("capacity_attempts_over_timeout", params)
    readings = engine.rows("capacity_connector_readings", params)
    timeline = engine.rows("vpc_timeline", params)
    states = [
        (_epoch(r["ts"]), str(r["vpc_state"]), _epoch(r["until"]) if r["until"] else None)
        for r in timeline
    ]
    # the window starts where the env's history does, if later: weeks with no telemetry are
    # not weeks without strain
    firsts = [_epoch(r["started_at"]) for r in startups[:1]] + [s[0] for s in states[:1]]
    start_s, end_s = max(start.timestamp(), min(firsts, default=0.0)), end.timestamp()
    hours = cut_hours(states, start_s=start_s, end_s=end_s, zone=zone)
    share = hours.share
    history = hour_of_week_shares(hours)
    scored = backtest(share, hours)
    forecast = seasonal_forecast(share, hours)
    shown = scored.beats_both
    weeks = (end_s - start_s) / WEEK_S
    known = float(hours.known_s.sum())
    rows = [
        HourOfWeek(
            hour=h,
            strained_share=_number(history[h]),
            forecast=_number(forecast.share[h]) if shown else None,
            forecast_low=_number(forecast.low[h]) if shown else None,
            forecast_high=_number(forecast.high[h]) if shown else None,
        )
        for h in range(HOURS_A_WEEK)
    ]
    trend = weekly_trend(hours)
    episodes = strained_episodes(states, start_s=start_s, end_s=end_s)
    costs = [
        _service_cost(name, mine, weeks)
        for name, mine in _startups_by_service(startups, over, service).items()
    ]
    return Capacity(
        env=env,
        service=service,
        zone=zone,
        window=Window(datetime.fromtimestamp(start_s, UTC), end),
        weeks=weeks,
        strained_share=float(hours.strained_s.sum()) / known if known else None,
        hour_of_week=rows,
        backtest=_backtest_model(scored),
        trend=StrainTrend(**vars(trend)),
        episodes=StrainEpisodes(**vars(episodes)),
        costs=costs,
        what_ifs=what_ifs(
            rows,
            costs,
            weeks=weeks,
            forecast_shown=shown,
            at_max=sum(_at_max(r) for r in readings),
            readings=len(readings),
        ),
    )


def _at_max(reading: dict[str, object]) -> bool:
    instances, most = reading["instances"], reading["max_instances"]
    assert isinstance(instances, float) and isinstance(most, float)
    return instances >= most


def _epoch(value: object) -> float:
    assert isinstance(value, datetime)
    return value.timestamp()


def _number(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 4)


def _backtest_model(scored: Backtest) -> ForecastBacktest:
    if scored.seasonal_rmse is None:
        verdict = (
            "too little history for a forecast: it needs three whole weeks (two to learn from, "
            "one to test on); widen --since or wait"
        )
    elif not scored.weekly_pattern:
        verdict = (
            "no weekly pattern: the flat mean forecasts the held-out weeks as well as the "
            "seasonal model, so no forecast by hour is shown"
        )
    elif not scored.beats_both:
        verdict = (
            "a weekly pattern, but the seasonal model does not beat same-hour-last-week on the "
            "held-out weeks: no forecast shown"
        )
    else:
        gain = scored.gain_over_seasonal_naive or 0.0
        verdict = (
            f"weekly pattern: the seasonal forecast's error is {100 * gain:.0f} % below "
            "same-hour-last-week's and below the flat mean's"
        )
    return ForecastBacktest(
        **vars(scored),
        weekly_pattern=scored.weekly_pattern,
        forecast_shown=scored.beats_both,
        verdict=verdict,
    )


def _startups_by_service(
    startups: list[dict[str, object]], over: list[dict[str, object]], only: str | None
) -> dict[str, ServiceStartups]:
    """Each service's startups as the arrays `strain_cost` reads."""
    would_fail = {(r["service"], r["startup_id"]) for r in over}
    grouped: dict[str, list[dict[str, object]]] = {}
    for row in startups:
        name = str(row["service"])
        if only is None or name == only:
            grouped.setdefault(name, []).append(row)
    out = {}
    for name, rows in sorted(grouped.items()):
        seen: set[object] = set()
        deploy = []
        for r in rows:  # in start order: a revision's first startup is its deploy
            deploy.append(r["revision"] not in seen)
            seen.add(r["revision"])
        state = [str(r["vpc_state"]) for r in rows]
        out[name] = ServiceStartups(
            strained=np.array([s in STRAINED_STATES for s in state], dtype=bool),
            healthy=np.array([s == "healthy" for s in state], dtype=bool),
            duration_s=np.array(
                [np.nan if r["duration_s"] is None else r["duration_s"] for r in rows], dtype=float
            ),
            failed=np.array([r["outcome"] == "failed" for r in rows], dtype=bool),
            would_fail=np.array([(name, r["startup_id"]) in would_fail for r in rows], dtype=bool),
            deploy=np.array(deploy, dtype=bool),
        )
    return out


def _service_cost(name: str, startups: ServiceStartups, weeks: float) -> ServiceCost:
    cost: StrainCost = strain_cost(startups, weeks=weeks)
    return ServiceCost(service=name, deploy_strain_share=cost.deploy_strain_share, **vars(cost))


def hour_name(hour: int) -> str:
    """`Tue 14:00` for hour 38 of the week."""
    return f"{DAYS[hour // 24]} {hour % 24:02d}:00"


def what_ifs(
    rows: Sequence[HourOfWeek],
    costs: Sequence[ServiceCost],
    *,
    weeks: float,
    forecast_shown: bool,
    at_max: int = 0,
    readings: int = 0,
) -> list[WhatIf]:
    """What would buy strain back, each with its evidence, what would confirm it and its
    limits. `readings`: the monitor's readings behind changes into strain, `at_max` of them
    with the connector at its max instances."""
    expected = [r.forecast if forecast_shown else r.strained_share for r in rows]
    basis = "next week's forecast" if forecast_shown else "the history (no forecast shown)"
    out: list[WhatIf] = []
    saved_s = sum(c.extra_s_per_week or 0.0 for c in costs)
    saved_failures = sum(c.failures_saved or 0.0 for c in costs)
    if any(c.strained_startups for c in costs):
        out.append(
            WhatIf(
                change="strained hours at healthy speed (a bigger or less shared connector)",
                evidence=f"{saved_s:,.0f} startup seconds a week and about "
                f"{saved_failures / weeks:,.1f} failed startups a week saved, from "
                f"{sum(c.strained_startups for c in costs):,} startups begun in strain",
                confirm_by="after the change, `analyze capacity` shows the strained share and "
                "the extra seconds a week falling",
                limits="counts whole startups begun in strain, phases the connector does not "
                "touch included; healthy speed is the mean of startups begun while healthy",
            )
        )
    known = [(share, hour) for hour, share in enumerate(expected) if share is not None]
    if known:
        quiet = sorted(known)[:DEPLOY_WINDOW_HOURS]
        deploys = sum(c.deploys for c in costs)
        in_strain = sum(c.deploys_in_strain for c in costs)
        out.append(
            WhatIf(
                change="deploy windows: roll out in "
                + ", ".join(hour_name(h) for _, h in sorted(quiet, key=lambda q: q[1])),
                evidence=f"the quietest hours of the week by {basis} (strained "
                + ", ".join(f"{100 * s:.0f} %" for s, _ in quiet)
                + f"); {in_strain} of {deploys} deploys in the window began during strain",
                confirm_by="the share of deploys begun during strain falls in the weeks after",
                limits="a rollout longer than the window spills into busier hours",
            )
        )
        busy = sorted(hour for share, hour in known if share >= BUSY_SHARE)
        strained_per_week = sum(c.strained_startups for c in costs) / weeks if weeks else 0.0
        if busy:
            out.append(
                WhatIf(
                    change="min-instances raised ahead of the strained hours ("
                    + _spans(busy)
                    + ")",
                    evidence=f"{len(busy)} hours a week at least {100 * BUSY_SHARE:.0f} % "
                    f"strained by {basis}; {strained_per_week:,.1f} cold starts a week begin "
                    "during strain",
                    confirm_by="fewer startups begun during strain a week, at the same traffic",
                    limits="warm instances cost money while idle; startups caused by traffic "
                    "beyond min-instances still meet the strain",
                )
            )
    out.append(connector_what_if(at_max=at_max, readings=readings))
    return out


# At least this share of strained readings at max instances makes the connector's size the
# bottleneck.
AT_MAX_SHARE = 0.5


def connector_what_if(*, at_max: int, readings: int) -> WhatIf:
    """Whether the connector's max instances (or machine type) is the bottleneck, from the
    monitor's readings behind its changes into strain."""
    limits = (
        "readings come with the monitor's state changes only, not in between; strain with "
        "room to scale comes from elsewhere (CPU per instance, Cloud SQL connections, the "
        "network)"
    )
    if readings == 0:
        return WhatIf(
            change="connector max instances or machine type",
            evidence="not judged: no reading in the window of the connector's instances "
            "against its max while strained (the runtime's VPC monitor logs them with each "
            "change of state)",
            confirm_by="the VPC monitor (ANALYZER_VPC_CONNECTOR) wired, its readings showing "
            "the connector at its max instances during strained hours",
            limits=limits,
        )
    seen = f"at its max instances in {at_max} of {readings} readings behind changes into strain"
    if at_max >= AT_MAX_SHARE * readings:
        return WhatIf(
            change="connector max instances or machine type is the bottleneck: raise max "
            "instances or take a larger machine type",
            evidence=f"the connector was {seen}",
            confirm_by="after the change, the strained share falls in the hours it was at max, "
            "and readings at max while strained become rare",
            limits=limits,
        )
    return WhatIf(
        change="connector max instances or machine type: not the bottleneck by its readings",
        evidence=f"the connector was {seen}: it had room to scale",
        confirm_by="readings at max instances while strained would say otherwise",
        limits=limits,
    )


def _spans(hours: Sequence[int]) -> str:
    """Consecutive hours of the week as spans: `Mon 13:00-22:00, Tue 13:00-22:00`."""
    spans: list[tuple[int, int]] = []
    for h in hours:
        if spans and spans[-1][1] == h:
            spans[-1] = (spans[-1][0], h + 1)
        else:
            spans.append((h, h + 1))
    shown = [f"{hour_name(a)}-{(b % 24):02d}:00" for a, b in spans[:6]]
    more = f" and {len(spans) - 6} more" if len(spans) > 6 else ""
    return ", ".join(shown) + more
