"""The backtest as text for a terminal."""

from __future__ import annotations

from analyzer.backtest import Backtest
from analyzer.render import percent, table, when


def format_backtest(result: Backtest) -> str:
    lines = [
        f"env {result.env}: phase {result.phase} attempts from {when(result.window.start)} to "
        f"{when(result.window.end)}, replayed under {result.config}",
        "(observed: under the timeouts that were in force; predicted: under the config, an attempt "
        "cut at its old timeout finishing with the chance its duration estimate gives)",
        "",
    ]
    rows = [
        [
            s.vpc_state,
            s.attempts,
            percent(s.success_rate_observed),
            percent(s.success_rate_predicted),
            f"{s.seconds_lost_observed:,.0f} s",
            f"{s.seconds_lost_predicted:,.0f} s",
        ]
        for s in result.states
    ]
    o = result.overall
    rows.append(
        [
            "overall",
            o.attempts,
            percent(o.success_rate_observed),
            percent(o.success_rate_predicted),
            f"{o.seconds_lost_observed:,.0f} s",
            f"{o.seconds_lost_predicted:,.0f} s",
        ]
    )
    lines.append(
        table(
            [
                "vpc_state",
                "attempts",
                "success observed",
                "success predicted",
                "lost to timeouts observed",
                "lost predicted",
            ],
            rows,
        )
    )
    st = result.startups
    lines += [
        "",
        f"startups: {st.startups:,}, all phases succeeding {percent(st.success_rate_observed)} "
        f"observed, {percent(st.success_rate_predicted)} predicted",
        f"breaker openings: {result.breaker_trips_observed} observed, "
        f"{result.breaker_trips_predicted} predicted",
    ]
    if result.sweep:
        states = list(result.sweep[0].by_state)
        lines += ["", "success rate against the timeout (the curve to pick a timeout from):"]
        lines.append(
            table(
                ["timeout", "all", *states],
                [
                    [
                        f"{p.timeout_s:g} s",
                        percent(p.success_rate_predicted),
                        *(percent(p.by_state.get(s)) for s in states),
                    ]
                    for p in result.sweep
                ],
            )
        )
    return "\n".join(lines)
