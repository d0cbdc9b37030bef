"""The recommendation and its history as text for a terminal: units and evidence beside numbers."""

from __future__ import annotations

from analyzer.cli.render import percent, table, when
from analyzer.recommend.model import PhaseTimeout, Recommendation

_MARK = {"kaplan-meier": "", "lognormal-tail": "*", "insufficient-data": "?"}


def _seconds(value: float | None, method: str = "kaplan-meier") -> str:
    if value is None:
        return "n/a"
    return f"{value:,.1f} s{_MARK[method]}"


def _ci(row: PhaseTimeout) -> str:
    low, high = row.ci_s
    if low is None and high is None:
        return "n/a"
    return f"{_seconds(low)} .. {_seconds(high) if high is not None else 'unbounded'}"


def format_recommendation(rec: Recommendation) -> str:
    p = rec.policy
    lines = [
        f"env {rec.env}: phase attempts from {when(rec.window.start)} to {when(rec.window.end)}",
        f"policy: timeout = p{100 * p.target_quantile:g} x (1 + {p.margin:g}), upper "
        f"{100 * p.confidence:g} % bound when under {p.few_attempts} attempts, rounded up to "
        f"{p.step_s:g} s, within [{p.floor_s:g} s, {p.ceiling_s:g} s]"
        + (f"; weights halve every {p.half_life_days:g} days" if p.half_life_days else ""),
        "",
        "Timeouts (durations censored at timeouts and errors: Kaplan-Meier; * lognormal tail "
        "fitted past what the data reach; n/a too few attempts)",
    ]
    rows = []
    for t in rec.timeouts:
        q, m = t.quantiles_s, t.methods
        state = t.vpc_state + (f" (= {t.derived_from})" if t.derived_from else "")
        rows.append(
            [
                t.phase,
                t.operation,
                state,
                t.attempts,
                t.completed,
                t.censored,
                _seconds(q.p50, m.p50),
                _seconds(q.p95, m.p95),
                _seconds(q.p99, m.p99),
                _ci(t),
                _seconds(t.current_timeout_s),
                percent(t.timeout_rate_current),
                _seconds(t.timeout_s) + (" (wide)" if t.widened else ""),
                percent(t.timeout_rate_recommended),
            ]
        )
    headers = [
        "phase",
        "operation",
        "vpc_state",
        "attempts",
        "completed",
        "censored",
        "p50",
        "p95",
        "p99",
        f"p{100 * p.target_quantile:g} CI",
        "current",
        "fail now",
        "recommended",
        "fail then",
    ]
    lines.append(table(headers, rows))
    b = rec.breaker
    ev = b.evidence
    out = ev["outages"]
    lines += [
        "",
        f"Circuit breaker (phase {ev['phase']}'s dependency, {ev['calls']:,} calls)",
        f"  failure_threshold   {b.failure_threshold} consecutive failures "
        f"(expected false trips {ev['expected_false_trips_per_week']:.3f}/week at a healthy "
        f"failure rate of {percent(ev['healthy_failure_rate'])} and "
        f"{ev['healthy_calls_per_week']:,.0f} calls/week; target at most "
        f"{ev['max_false_trips_per_week']:g}/week)",
        f"  recovery_timeout_s  {b.recovery_timeout_s:g} s ({ev['recovery_timeout_source']}: "
        f"{out['count']} outages of {out['min_failures']}+ failures"
        + (
            f", median {out['median_s']:,.0f} s, p90 {out['p90_s']:,.0f} s, longest "
            f"{out['max_s']:,.0f} s"
            if out["count"]
            else ""
        )
        + ")",
        f"  half_open_max_calls {b.half_open_max_calls}",
        "  failure rate by VPC state: "
        + ", ".join(
            f"{state} {percent(v['failure_rate'])} of {v['calls']:,}"
            for state, v in ev["failure_rates_by_state"].items()
        ),
        f"  failure streaks: {ev['streaks']['count']} runs, longest {ev['streaks']['longest']}; "
        "lengths " + ", ".join(f"{k}x{v}" for k, v in ev["streaks"]["lengths"].items()),
        f"  model: {ev['model']}",
    ]
    return "\n".join(lines)


def format_history(runs: list[Recommendation]) -> str:
    """How each recommended timeout moved from run to run."""
    lines = [f"{len(runs)} recommendation(s) for env {runs[0].env}, oldest first:"]
    lines += [
        f"  #{i + 1}  {when(r.generated_at)}  window to {when(r.window.end)}"
        for i, r in enumerate(runs)
    ]
    keys = sorted({(t.phase, t.operation, t.vpc_state) for r in runs for t in r.timeouts})
    rows = []
    for key in keys:
        values = []
        for r in runs:
            found = next(
                (t for t in r.timeouts if (t.phase, t.operation, t.vpc_state) == key), None
            )
            values.append(
                "-" if found is None or found.timeout_s is None else f"{found.timeout_s:g}"
            )
        rows.append([*key, " -> ".join(values) + " s"])
    rows.append(
        [
            "breaker",
            "failure_threshold",
            "",
            " -> ".join(str(r.breaker.failure_threshold) for r in runs),
        ]
    )
    rows.append(
        [
            "breaker",
            "recovery_timeout_s",
            "",
            " -> ".join(f"{r.breaker.recovery_timeout_s:g}" for r in runs) + " s",
        ]
    )
    return "\n".join(lines) + "\n\n" + table(["phase", "operation", "vpc_state", "timeout"], rows)
