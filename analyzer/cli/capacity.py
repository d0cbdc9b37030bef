"""`capacity`: when the VPC connector strains, what it costs and what would buy it back."""

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
    store_option,
)
from analyzer.cli.render import percent, table, when

if TYPE_CHECKING:
    from analyzer.capacity.model import Capacity, HourOfWeek


@main.command()
@env_option
@store_option
@engine_options
@click.option("--service", default=None, metavar="NAME", help="Costs of this service only.")
@click.option("--since", default="8w", show_default=True, help="Window start: 8w, 56d or ISO-8601.")
@click.option(
    "--tz",
    "zone",
    default="UTC",
    show_default=True,
    help="Time zone of the hours of the week (IANA name, e.g. Europe/Berlin).",
)
@format_option("table", "json")
@click.pass_context
def capacity(
    ctx: click.Context,
    env: str,
    store: str | None,
    service: str | None,
    since: str,
    zone: str,
    fmt: str,
) -> None:
    """When the VPC connector strains, whether it grows, what it costs, what would fix it.

    The share of each hour of the week spent strained (pressure, scaling or critical), the
    trend week over week, the strained episodes' lengths; next week's forecast by hour, shown
    only where its backtest beats same-hour-last-week and the flat mean; per service the extra
    startup seconds, failures and deploys in strain; and the what-ifs, each with what would
    confirm it. Over the lake, or BigQuery (--engine bigquery).

    Example:

        analyze capacity --env staging --tz Europe/Berlin --format json
    """
    from analyzer.capacity import capacity as answer
    from analyzer.capacity import check_zone

    check_zone(zone)
    result = answer(
        engine=command_engine(existing_store(store)),
        env=env,
        service=service,
        since=since,
        zone=zone,
    )
    click.echo(render_model(result, fmt, format_capacity))


SHADES = " .:-=+*#%@"  # a share of 0 to 1 in tenths


def heatmap(rows: list[HourOfWeek], *, forecast: bool = False) -> str:
    """Seven lines of 24 characters: the hour's strained share, ' ' none to '@' all of it."""
    lines = ["     " + "".join(f"{h:<6}" for h in range(0, 24, 6)).rstrip()]
    for day, name in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")):
        cells = []
        for r in rows[24 * day : 24 * (day + 1)]:
            share = r.forecast if forecast else r.strained_share
            cells.append("?" if share is None else SHADES[min(9, int(share * 10))])
        lines.append(f"{name}  " + "".join(cells).rstrip())
    return "\n".join(lines)


def format_capacity(c: Capacity) -> str:
    text = (
        f"env {c.env}: VPC connector strain {when(c.window.start)} to {when(c.window.end)} "
        f"({c.weeks:.1f} weeks), hours in {c.zone}\n"
    )
    if c.strained_share is None:
        text += (
            "no VPC connector state known in the window (no vpc_state_changed events): strain "
            "cannot be placed in time; the VPC monitor (ANALYZER_VPC_CONNECTOR) logs it\n"
        )
    else:
        text += (
            f"strained (pressure, scaling or critical) {percent(c.strained_share)} of the time"
            f"\n\nstrained share by hour of week (' ' none, '@' all, '?' unknown):\n"
            f"{heatmap(c.hour_of_week)}\n"
        )
    if c.backtest.forecast_shown:
        text += f"\nnext week's forecast:\n{heatmap(c.hour_of_week, forecast=True)}\n"
    text += f"\nforecast: {c.backtest.verdict}\n"
    t = c.trend
    weekly = ", ".join(percent(s) for s in t.weekly_share)
    slope = "" if t.slope_per_week is None else f", {100 * t.slope_per_week:+.1f} points a week"
    text += f"trend: {t.direction}{slope} (weekly share: {weekly or '-'})\n"
    e = c.episodes
    text += f"strained episodes: {e.count}" + (
        f", median {_minutes(e.median_s)}, 90 % under {_minutes(e.p90_s)}, longest "
        f"{_minutes(e.longest_s)}"
        if e.median_s is not None
        else ""
    )
    text += (f" ({e.cut_by_window} cut by the window)" if e.cut_by_window else "") + "\n"
    headers = ["service", "startups", "in strain", "extra s/week", "failed in strain"]
    headers += ["would fail", "deploys in strain"]
    rows = [
        [
            s.service,
            s.startups,
            s.strained_startups,
            "-" if s.extra_s_per_week is None else f"{s.extra_s_per_week:,.0f}",
            s.failed_in_strain,
            s.would_fail_in_strain,
            f"{s.deploys_in_strain} of {s.deploys}",
        ]
        for s in c.costs
    ]
    if rows:
        text += "\nwhat strain costs:\n" + table(headers, rows) + "\n"
    text += "\nwhat would buy it back:\n"
    for w in c.what_ifs:
        text += f"- {w.change}: {w.evidence}.\n  Confirm: {w.confirm_by}. Limits: {w.limits}.\n"
    return text.rstrip("\n")


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:,.0f} min"
