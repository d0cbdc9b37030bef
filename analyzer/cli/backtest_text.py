"""The backtest as text for a terminal."""

from __future__ import annotations

from analyzer.backtest.replay import Backtest, Outcome
from analyzer.cli.render import percent, table, when


def format_backtest(result: Backtest) -> str:
    lines = [
        f"env {result.env}: phase {result.phase} attempts from {when(result.window.start)} to "
        f"{when(result.window.end)}, replayed under {result.config}",
        "(observed: under the timeouts that were in force; predicted: under the config, an attempt "
        "cut at its old timeout finishing with the chance its duration estimate gives)",
        "",
    ]

    def row(label: str, o: Outcome) -> list[object]:
        return [
            label,
            o.attempts,
            percent(o.success_rate_observed),
            percent(o.success_rate_predicted),
            f"{o.seconds_lost_observed:,.0f} s",
            f"{o.seconds_lost_predicted:,.0f} s",
            percent(o.startup_success_rate_observed),
            percent(o.startup_success_rate_predicted),
            f"{o.breaker_trips_observed} / {o.breaker_trips_predicted}",
        ]

    rows = [row(s.vpc_state, s) for s in result.states] + [row("overall", result.overall)]
    lines.append(
        table(
            [
                "vpc_state",
                "attempts",
                "success observed",
                "predicted",
                "lost to timeouts observed",
                "predicted",
                "startups ok observed",
                "predicted",
                "breaker openings obs / pred",
            ],
            rows,
        )
    )
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
