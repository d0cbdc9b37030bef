"""`summary`: what the lake holds for one env, and its table."""

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

if TYPE_CHECKING:
    from analyzer.analysis.summary import StartupCounts, Summary


@main.command()
@env_option
@store_option
@engine_options
@services_option
@format_option("table", "json", "csv")
def summary(env: str, store: str | None, services: tuple[str, ...], fmt: str) -> None:
    """Startups, success rate and phase outcomes per service and VPC state for one env.

    Example:

        analyze summary --env staging --format json
        analyze summary --env staging --service netra-auth-staging
    """
    from analyzer.analysis.summary import summarize

    result = summarize(engine=command_engine(existing_store(store)), env=env, services=services)
    click.echo(render_model(result, fmt, format_summary, csv_rows=["phases"]))


def format_summary(s: Summary) -> str:
    text = f"env {s.env}: {when(s.window.start)} to {when(s.window.end)}, {s.events:,} events\n"
    if len(s.services) > 1:
        text += f"{len(s.services)} services: {_startups(s)}\n"
    headers = ["phase", "operation", "vpc_state", "attempts", "completed", "timed_out", "errors"]
    for service in s.services:
        rows = [
            [p.phase, p.operation, p.vpc_state, p.attempts, p.completed, p.timed_out, p.errors]
            for p in s.phases
            if p.service == service.service
        ]
        text += f"\nservice {service.service}: {_startups(service)}\n"
        text += _unknown_line(service.vpc_unknown_share) + table(headers, rows)
        text += "\n"
    text = text.rstrip("\n")
    if s.configs is None:
        text += "\n\nconfig each revision ran with: not known from this engine"
    if s.configs:
        loads = [
            [
                c.service or "-",
                c.revision or "-",
                c.outcome or "-",
                c.config_path or "-",
                c.run_id or "-",
                c.generated_at or "-",
                (c.config_sha256 or "-")[:12],
                c.processes,
                (c.error or "")[:60],
            ]
            for c in s.configs
        ]
        text += "\n\nTimeout config each revision ran with (config_loaded events):\n" + table(
            [
                "service",
                "revision",
                "outcome",
                "path",
                "run",
                "generated_at",
                "sha256",
                "processes",
                "error",
            ],
            loads,
        )
    else:
        text += "\n\nNo config_loaded events: no revision has said which timeout config it ran."
    return text


# Over this share of attempts in `unknown`, the service most likely has no VPC state wired.
UNWIRED_SHARE = 0.5


def _unknown_line(share: float | None) -> str:
    if share is None:
        return ""
    hint = (
        " (no VPC state wired? see the VPC monitor: $ANALYZER_VPC_CONNECTOR)"
        if share > UNWIRED_SHARE
        else ""
    )
    return f"VPC state unknown in {percent(share)} of phase attempts{hint}\n"


def _startups(s: StartupCounts) -> str:
    return (
        f"{s.startups:,} startups: {s.startups_completed:,} completed, "
        f"{s.startups_failed:,} failed, {s.startups_incomplete:,} with no end seen; "
        f"success rate {percent(s.startup_success_rate)}"
    )
