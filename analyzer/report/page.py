"""The report page: charts and tables assembled into one self-contained HTML file."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from analyzer.analysis.attempts import load_attempt_groups, pool_services
from analyzer.analysis.estimate import estimate_durations
from analyzer.analysis.fleet import check_services
from analyzer.backtest.replay import backtest
from analyzer.deploy.export import config_from_recommendation, unfit_sections
from analyzer.engine import Engine
from analyzer.lake.store import Store
from analyzer.recommend.breaker import threshold_basis
from analyzer.recommend.history import chosen_run, describe_run, load_history
from analyzer.recommend.model import Breaker, Recommendation
from analyzer.recommend.timeouts import recommend
from analyzer.report.capacity import capacity_section
from analyzer.report.charts import survival_chart, sweep_chart, timeline_chart
from analyzer.report.regressions import regressions_section
from analyzer.report.services import services_section, timeout_rows
from analyzer.runtime.schema import parse_config

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right;
         white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
.note { color: #555; font-size: 0.85rem; max-width: 60rem; }
figure { margin: 1rem 0; } figure svg { max-width: 100%; height: auto; }
"""


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f} s"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _recommendation_table(rec: Recommendation, phase: int, service: str | None = None) -> str:
    """The run's rows of `phase` for `service` (None: the env default, every service pooled)."""
    rows = []
    for t in rec.rows_of(service):
        if t.phase != phase:
            continue
        q, m = t.quantiles_s, t.methods
        rows.append(
            [
                t.operation,
                t.vpc_state + (f" (= {t.derived_from})" if t.derived_from else ""),
                f"{t.attempts:,}",
                f"{t.censored:,}",
                _seconds(q.p50),
                _seconds(q.p95) + (" *" if m.p95 == "lognormal-tail" else ""),
                _seconds(q.p99) + (" *" if m.p99 == "lognormal-tail" else ""),
                f"{_seconds(t.ci_s[0])} .. {_seconds(t.ci_s[1])}",
                _seconds(t.current_timeout_s),
                percent(t.timeout_rate_current),
                _seconds(t.timeout_s)
                + (f" (no evidence: {t.source})" if t.source != "recommended" else "")
                + (
                    f" (down from {t.previous_timeout_s:g} s)"
                    if t.below_previous and t.previous_timeout_s is not None
                    else ""
                )
                + (" (clamped)" if t.clamped == "ceiling" else ""),
                percent(t.timeout_rate_recommended),
            ]
        )
    return _table(
        [
            "operation",
            "VPC state",
            "attempts",
            "censored",
            "p50",
            "p95",
            "p99",
            "p99 interval",
            "current",
            "fail now",
            "recommended",
            "fail then",
        ],
        rows,
    )


def _warnings_section(rec: Recommendation) -> str:
    """What the numbers cannot say, every phase's (the table shows one phase only)."""
    if not rec.warnings:
        return "<h2 id='warnings'>Warnings</h2><p class='note'>None.</p>"
    items = "".join(f"<li>{html.escape(w.message)}</li>" for w in rec.warnings)
    return f"<h2 id='warnings'>Warnings ({len(rec.warnings)})</h2><ul class='note'>{items}</ul>"


def report_run(
    *,
    engine: Engine,
    store: Store,
    env: str,
    since: str = "28d",
    run_id: str | None = None,
    services: Sequence[str] = (),
) -> tuple[Recommendation, bool]:
    """The run a report shows, and whether it is a saved one: the one `run_id` names, else the
    latest saved run, else (no history yet) a fresh run that is not saved (with rows for the
    `services` named only, in an env of more than a config carries)."""
    if run_id is not None:
        return chosen_run(store, env, run_id), True
    runs = load_history(store, env)  # read once: a damaged run is warned about once
    if runs:
        return runs[-1], True
    return recommend(engine=engine, env=env, since=since, services=services), False


def write_report(
    *,
    engine: Engine,
    store: Store,
    env: str,
    out: Path,
    since: str = "28d",
    phase: int = 3,
    run: Recommendation | None = None,
    services: Sequence[str] = (),
) -> Path:
    """Write the report for `env` to `out` (atomically) and return its path: the numbers from
    `engine`, the recommendation `run` (default: see `report_run`); the env's services pooled,
    then a section per service (of `services` only, when given)."""
    check_services(engine, env, services)
    rec = run or report_run(engine=engine, store=store, env=env, since=since, services=services)[0]
    start, end, groups = load_attempt_groups(engine, env, since=since, until=None)
    estimates = {
        g.vpc_state: estimate_durations(
            g.duration_s, g.observed, min_attempts=rec.policy.min_attempts, counts=g.counts
        )
        for g in pool_services(groups)
        if g.phase == phase and g.operation == "initialization"
    }
    rows = timeout_rows(rec, None, phase)
    sectioned = {t.service for t in rec.timeouts if t.service is not None}
    named = [s for s in services if s in sectioned] if services else None
    config = parse_config(config_from_recommendation(rec, named, leave_out_unfit=True).document())
    unfit = unfit_sections(rec)
    replay = backtest(
        engine=engine,
        env=env,
        timeouts=dict(config.timeouts),
        breaker=config.breaker,
        config_name=describe_run(rec),
        phase=phase,
        since=since,
        sweep=True,
        sections=config.services,
    )
    timeline = engine.rows("report_timeline", {"env": env, "start": start, "end": end})
    b = rec.breaker
    ev = b.evidence
    sections = [
        f"<h1>Startup telemetry report: {html.escape(env)}</h1>",
        f"<p class='note'>Phase attempts from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC; "
        f"recommendation: {html.escape(describe_run(rec))}; page written "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC.</p>",
        f"<h2>Phase {phase} duration by VPC state</h2>",
        "<p class='note'>Kaplan-Meier survival: timed-out and failed attempts count as censored "
        "(still running when cut), so the curves do not understate the slow tail.</p>",
        f"<figure id='survival'>{survival_chart(estimates, rows, phase)}</figure>",
        "<h2>Success rate against the timeout</h2>",
        f"<figure id='sweep'>{sweep_chart(replay.sweep or [], phase)}</figure>",
        "<h2>Timeline</h2>",
        f"<figure id='timeline'>{timeline_chart(timeline, start, end)}</figure>",
        *capacity_section(engine=engine, env=env, since=since, table=_table, percent=percent),
        "<h2>Recommendation</h2>",
        "<p class='note'>* the lognormal fitted to the censored durations, past what the data "
        "reach. Backtest under it: "
        f"{percent(replay.overall.startup_success_rate_predicted)} of startups predicted to "
        "succeed "
        "(observed under the timeouts in force: "
        f"{percent(replay.overall.startup_success_rate_observed)}).</p>",
        _recommendation_table(rec, phase),
        *_unfit_note(unfit),
        _warnings_section(rec),
        "<h2>Circuit breaker</h2>",
        _table(["setting", "value", "evidence"], _breaker_rows(b)),
        *(f"<p class='note'>limit: {html.escape(text)}</p>" for text in ev.get("limits", [])),
        f"<p class='note'>{html.escape(b.evidence['model'])}</p>",
    ]
    sections += services_section(
        engine=engine,
        env=env,
        rec=rec,
        replayed=(describe_run(rec), dict(config.timeouts), config.breaker, config.services),
        window=(start, end),
        services=services,
        unfit=unfit,
        phase=phase,
        table=_table,
        percent=percent,
        recommendation_table=lambda service: _recommendation_table(rec, phase, service),
    )
    sections += regressions_section(engine=engine, env=env, since=since, table=_table)
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>analyzer report: {html.escape(env)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>\n"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.tmp")
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, out)
    return out


def _unfit_note(unfit: dict[str, str]) -> list[str]:
    """The services a config cannot name, each with why: they run the env default."""
    if not unfit:
        return []
    items = "".join(f"<li>{html.escape(problem)}</li>" for problem in unfit.values())
    return [
        f"<p class='note' id='unfit-services'>{len(unfit)} service(s) cannot have a config "
        "section (a Cloud Run service name has lowercase letters, digits and hyphens): the "
        "backtest runs them on the env default; export names the others with "
        f"--service.</p><ul class='note'>{items}</ul>"
    ]


def _wait_rows(b: Breaker, episodes: int) -> list[list[str]]:
    """The OPEN wait's settings; a run saved before the wait started at one probe's time says
    only where its wait came from."""
    ev = b.evidence
    if "max_recovery_timeout_source" not in ev:
        return [
            [
                "recovery_timeout_s",
                f"{b.recovery_timeout_s:g} s",
                f"{ev['recovery_timeout_source']} ({episodes} episodes)",
            ],
            ["backoff_multiplier", f"{b.backoff_multiplier:g}", ""],
            ["max_recovery_timeout_s", f"{b.max_recovery_timeout_s:g} s", "the episodes' p90"],
        ]
    failed = ev["probes_failed_in_a_median_episode"]
    return [
        [
            "recovery_timeout_s",
            f"{b.recovery_timeout_s:g} s",
            f"{ev['recovery_timeout_source']}: what a false trip costs",
        ],
        ["backoff_multiplier", f"{b.backoff_multiplier:g}", "after each failed probe"],
        [
            "max_recovery_timeout_s",
            f"{b.max_recovery_timeout_s:g} s",
            f"{ev['max_recovery_timeout_source']} ({episodes} episodes)"
            + ("" if failed is None else f"; {failed} failed probes in a median episode"),
        ],
    ]


def _breaker_rows(b: Breaker) -> list[list[str]]:
    """Each breaker setting, its value and what it rests on."""
    ev = b.evidence
    if "failure_rule" not in ev:  # a run saved before the rate mode
        return [
            ["failure_threshold", str(b.failure_threshold), ""],
            ["recovery_timeout_s", f"{b.recovery_timeout_s:g} s", ""],
            ["half_open_max_calls", str(b.half_open_max_calls), ""],
        ]
    rule, slow, episodes = ev["failure_rule"] or {}, ev["slow_rule"] or {}, ev["episodes"]
    if "per_process" in ev:
        half_open = f"{b.max_half_open_s:g} s" if b.max_half_open_s else "built-in"
        return [
            ["mode", b.mode, ""],
            ["failure_threshold", str(b.failure_threshold), threshold_basis(ev)],
            *(
                _wait_rows(b, episodes["count"])
                if b.max_recovery_timeout_s is not None
                else [
                    [
                        "recovery_timeout_s",
                        f"{b.recovery_timeout_s:g} s",
                        ev["recovery_timeout_source"],
                    ]
                ]
            ),
            ["half_open_max_calls", str(b.half_open_max_calls), ""],
            ["max_half_open_s", half_open, "longer than the longest timeout"],
        ]
    return [
        ["mode", b.mode, f"false trips at most {ev['false_trip_target']}"],
        [
            "window_calls",
            str(b.window_calls),
            f"in-life calls in the lake: {ev['in_life']['calls']:,.0f}",
        ],
        ["minimum_calls", str(b.minimum_calls), ""],
        [
            "failure_rate_threshold",
            percent(b.failure_rate_threshold),
            f"a full window of {ev['strained_state']} calls opens it with "
            f"{percent(rule.get('trip_probability_strained'))}",
        ],
        [
            "slow_call_rate_threshold",
            percent(b.slow_call_rate_threshold),
            f"{percent(slow.get('trip_probability_strained'))} on a full window of "
            f"{ev['strained_state']} calls",
        ],
        *_wait_rows(b, episodes["count"]),
        ["half_open_max_calls", str(b.half_open_max_calls), ""],
        ["max_half_open_s", f"{b.max_half_open_s:g} s", "longer than the longest timeout"],
        [
            "failure_threshold",
            str(b.failure_threshold),
            f"consecutive mode: {ev['consecutive']['expected_false_trips_per_week']:.3f} false "
            "trips a week",
        ],
    ]
