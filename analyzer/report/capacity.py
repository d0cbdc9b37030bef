"""The report's capacity section: the heatmap of strained share by hour of the week (history
and forecast side by side), the trend and the cost table."""

from __future__ import annotations

import html
from collections.abc import Callable

import numpy as np
from matplotlib.figure import Figure

from analyzer.capacity import capacity
from analyzer.capacity.answer import DAYS
from analyzer.capacity.model import Capacity
from analyzer.engine import Engine
from analyzer.report.charts import _svg


def heatmap_chart(result: Capacity) -> str:
    """Two 7 x 24 grids, Monday at the top: the history's strained share of each hour of the
    week, and next week's forecast (or why there is none)."""
    fig = Figure(figsize=(11, 3.4))  # no pyplot: no global state, no screen
    axes = fig.subplots(1, 2, sharey=True)
    history = np.array(
        [np.nan if r.strained_share is None else r.strained_share for r in result.hour_of_week]
    ).reshape(7, 24)
    forecast = np.array(
        [np.nan if r.forecast is None else r.forecast for r in result.hour_of_week]
    ).reshape(7, 24)
    image = None
    for ax, grid, title in (
        (axes[0], history, "history: strained share"),
        (axes[1], forecast, "next week: forecast"),
    ):
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="YlOrRd", aspect="auto")
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(0, 24, 3))
        ax.set_xlabel(f"hour of day ({result.zone})")
        ax.set_yticks(range(7), DAYS)
    if not result.backtest.forecast_shown:
        axes[1].text(11.5, 3, "no forecast shown", ha="center", va="center", fontsize=10)
    assert image is not None
    fig.colorbar(image, ax=list(axes), fraction=0.03, pad=0.02)
    return _svg(fig)


def capacity_section(
    *,
    engine: Engine,
    env: str,
    since: str,
    table: Callable[[list[str], list[list[str]]], str],
    percent: Callable[[float | None], str],
) -> list[str]:
    """The section's HTML parts."""
    head = "<h2 id='capacity'>VPC connector capacity</h2>"
    result = capacity(engine=engine, env=env, since=since)
    t = result.trend
    weekly = ", ".join(percent(s) for s in t.weekly_share) or "-"
    slope = "" if t.slope_per_week is None else f" ({100 * t.slope_per_week:+.1f} points a week)"
    rows = [
        [
            c.service,
            f"{c.startups:,}",
            f"{c.strained_startups:,}",
            "-" if c.extra_s_per_week is None else f"{c.extra_s_per_week:,.0f} s",
            f"{c.failed_in_strain:,}",
            f"{c.would_fail_in_strain:,}",
            f"{c.deploys_in_strain} of {c.deploys}",
        ]
        for c in result.costs
    ]
    return [
        head,
        f"<p class='note'>Strained (pressure, scaling or critical) "
        f"{percent(result.strained_share)} of the time over {result.weeks:.1f} weeks. Forecast: "
        f"{html.escape(result.backtest.verdict)}.</p>",
        f"<figure id='capacity-heatmap'>{heatmap_chart(result)}</figure>",
        f"<p class='note' id='capacity-trend'>Trend: {html.escape(t.direction)}{slope}; "
        f"weekly strained share, oldest first: {weekly}.</p>",
        table(
            [
                "service",
                "startups",
                "in strain",
                "extra per week",
                "failed in strain",
                "would fail now",
                "deploys in strain",
            ],
            rows,
        ),
    ]
