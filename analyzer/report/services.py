"""The report's section per service: each service's phase durations, its backtest and its
success rate against the timeout, from its own attempts only."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import datetime

from analyzer.analysis.estimate import DurationEstimate, estimate_durations
from analyzer.backtest.replay import (
    REPLAY_ORDER,
    Backtest,
    Outcome,
    Sections,
    TimeoutTable,
    replay_attempts,
)
from analyzer.engine import Engine
from analyzer.recommend.model import PhaseTimeout, Recommendation
from analyzer.report.charts import survival_chart, sweep_chart
from analyzer.runtime.schema import BreakerSettings, shown
from analyzer.timewindow import Window

Table = Callable[[list[str], list[list[str]]], str]


def services_section(
    *,
    engine: Engine,
    env: str,
    rec: Recommendation,
    replayed: tuple[str, TimeoutTable, BreakerSettings, Sections],
    window: tuple[datetime, datetime],
    services: Sequence[str],
    unfit: dict[str, str],
    phase: int,
    table: Table,
    percent: Callable[[float | None], str],
    recommendation_table: Callable[[str], str],
) -> list[str]:
    """One block per service of `services` (every one of the window when empty; the caller
    checks they are the env's): its phase-`phase` survival curves per VPC state, the backtest
    of `replayed` (name, env default timeouts, breaker, per-service sections) over its
    attempts, its sweep, and the run's rows for it (`recommendation_table`). A service of
    `unfit` (a name no config section can have, with why) is named as a message shows it."""
    name, timeouts, breaker, sections = replayed
    start, end = window
    asked = {"env": env, "start": start, "end": end, "services": list(services)}
    frame = engine.frame("backtest_attempts", asked)
    # one fixed order, whatever order the engine returns the rows in (see backtest)
    frame = frame.sort(frame.columns, nulls_last=True)
    focus = frame.filter((frame["phase"] == phase) & (frame["operation"] == "initialization"))
    out = [
        "<h2 id='services'>Per service</h2>",
        "<p class='note'>Each service from its own attempts: its survival curves, and the "
        "recommendation replayed over its startups alone.</p>",
    ]
    for number, service in enumerate(sorted(set(frame["service"].to_list()))):
        mine = focus.filter(focus["service"] == service)
        estimates: dict[str, DurationEstimate] = {
            str(state): estimate_durations(
                part["duration_s"].to_numpy(),
                (part["outcome"] == "completed").to_numpy(),
                min_attempts=rec.policy.min_attempts,
            )
            for (state,), part in mine.group_by(["vpc_state"], maintain_order=True)
        }
        # its rows of the one answer read above, not a query each: linear in the services
        replay = replay_attempts(
            frame.filter(frame["service"] == service).sort(
                REPLAY_ORDER, nulls_last=True, maintain_order=True
            ),
            env=env,
            window=Window(start=start, end=end),
            timeouts=timeouts,
            breaker=breaker,
            config_name=name,
            phase=phase,
            sweep=True,
            sections=sections,
        )
        own = any(t.service == service and t.phase == phase for t in rec.timeouts)
        if service in unfit:
            heading = f"<h3 id='service-{number}'>{html.escape(shown(service))}</h3>"
            heading += (
                f"<p class='note'>Its rows run the env default: {html.escape(unfit[service])}.</p>"
            )
        else:
            anchor = html.escape(service, quote=True)
            heading = f"<h3 id='service-{anchor}'>{html.escape(service)}</h3>"
        out += [
            heading,
            f"<figure>{survival_chart(estimates, timeout_rows(rec, service, phase), phase)}"
            "</figure>",
            _backtest_table(replay, table, percent),
            f"<figure>{sweep_chart(replay.sweep or [], phase)}</figure>",
            recommendation_table(service)
            if own
            else "<p class='note'>No rows of its own in the run: it runs the env default.</p>",
        ]
    return out


def timeout_rows(rec: Recommendation, service: str | None, phase: int) -> dict[str, PhaseTimeout]:
    """The recommendation's initialization rows of `phase` per VPC state for `service`: its
    own where the run has them, else the env-wide ones (None: the env-wide ones only)."""
    rows: dict[str, PhaseTimeout] = {}
    for wanted in (None, service) if service else (None,):
        rows |= {
            t.vpc_state: t
            for t in rec.timeouts
            if t.phase == phase and t.operation == "initialization" and t.service == wanted
        }
    return rows


def _backtest_table(replay: Backtest, table: Table, percent: Callable[[float | None], str]) -> str:
    def row(label: str, o: Outcome) -> list[str]:
        return [
            label,
            f"{o.attempts:,}",
            percent(o.success_rate_observed),
            percent(o.success_rate_predicted),
            percent(o.startup_success_rate_observed),
            percent(o.startup_success_rate_predicted),
        ]

    return table(
        [
            "VPC state",
            "attempts",
            "success observed",
            "predicted",
            "startups ok observed",
            "predicted",
        ],
        [row(s.vpc_state, s) for s in replay.states] + [row("all states", replay.overall)],
    )
