"""`backtest`, and the text tables it prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from analyzer.cli.main import (
    command_engine,
    engine_options,
    env_option,
    existing_store,
    format_option,
    main,
    render_model,
    services_option,
    store_option,
)
from analyzer.cli.render import percent, table, when

if TYPE_CHECKING:  # imported where used: other commands start without pydantic or numpy
    from analyzer.backtest.replay import Backtest, Outcome


@main.command(name="backtest")
@env_option
@store_option
@engine_options
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Exported config to replay (checked as `export --check` does). Default: the env's "
    "latest saved run.",
)
@click.option("--run", "run_id", default=None, help="Saved run to replay (an id from `history`).")
@click.option(
    "--timeout-s",
    type=click.FloatRange(min=0.1, max=3600),
    default=None,
    help="Replay one static timeout for the phase instead (e.g. the old 20 s).",
)
@click.option(
    "--phase",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Phase whose attempts are reported (startups cover every phase).",
)
@click.option(
    "--since", default="28d", show_default=True, help="Window start: 28d, 2w or ISO-8601."
)
@click.option("--until", default=None, help="Window end (ISO-8601). Default: the env's last event.")
@click.option(
    "--sweep", is_flag=True, help="Also the success rate against the timeout, 5 to 240 s."
)
@services_option
@format_option("table", "json", "csv")
def backtest_command(
    env: str,
    store: str | None,
    config_file: str | None,
    timeout_s: float | None,
    phase: int,
    since: str,
    until: str | None,
    sweep: bool,
    services: tuple[str, ...],
    fmt: str,
    run_id: str | None,
) -> None:
    """Replay the window's phase attempts under a config and compare with what happened.

    A row per service and VPC state. Attempts cut at an old timeout finish under a longer
    one only with the chance their service's duration estimate gives (Kaplan-Meier and the
    fitted tail), never for certain.

    Example:

        analyze backtest --env staging --timeout-s 20
        analyze backtest --env staging --sweep --service netra-auth-staging
    """
    from analyzer.backtest.replay import backtest, replay_config

    if config_file and timeout_s is not None:
        raise click.UsageError("give --config FILE or --timeout-s S, not both")
    if sweep and fmt == "csv":  # refused, never dropped: its curve is not rows of the table
        raise click.UsageError("--sweep prints as --format table or json, not csv")
    from analyzer.timewindow import check_window

    check_window(since, until)  # before the run or config is read
    lake = existing_store(store)
    name, timeouts, breaker, sections = replay_config(
        lake, env, config_file=config_file, static_timeout_s=timeout_s, phase=phase, run_id=run_id
    )
    click.echo(f"replaying {name}", err=True)
    result = backtest(
        engine=command_engine(lake),
        env=env,
        timeouts=timeouts,
        breaker=breaker,
        config_name=name,
        phase=phase,
        since=since,
        until=until,
        sweep=sweep,
        services=services,
        sections=sections,
    )
    click.echo(render_model(result, fmt, format_backtest, csv_rows=["states", "overall"]))


def format_backtest(result: Backtest) -> str:
    lines = [
        f"env {result.env}: phase {result.phase} attempts from {when(result.window.start)} to "
        f"{when(result.window.end)}, replayed under {result.config}",
        "(observed: under the timeouts that were in force; predicted: under the config, an attempt "
        "cut at its old timeout finishing with the chance its duration estimate gives; the "
        "breaker replayed in each process, fresh at its start, as Cloud Run runs it)",
        "",
    ]

    def row(service: str, label: str, o: Outcome) -> list[object]:
        return [
            service,
            label,
            o.attempts,
            percent(o.success_rate_observed),
            percent(o.success_rate_predicted),
            f"{o.seconds_lost_observed:,.0f} s",
            f"{o.seconds_lost_predicted:,.0f} s",
            percent(o.startup_success_rate_observed),
            percent(o.startup_success_rate_predicted),
            f"{o.breaker_opened_observed} / {o.breaker_opened_predicted}",
            f"{o.breaker_refused_observed} / {o.breaker_refused_predicted}",
        ]

    rows = [row(s.service, s.vpc_state, s) for s in result.states]
    rows.append(row("overall", "", result.overall))
    lines.append(
        table(
            [
                "service",
                "vpc_state",
                "attempts",
                "success observed",
                "predicted",
                "lost to timeouts observed",
                "predicted",
                "startups ok observed",
                "predicted",
                "processes whose breaker opened obs / pred",
                "calls refused obs / pred",
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
