"""The report's charts, drawn by matplotlib as inline SVG (no script, no network)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Literal

from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analyzer.analysis.estimate import DurationEstimate
from analyzer.backtest.replay import SweepPoint
from analyzer.recommend.model import PhaseTimeout

STATE_COLOURS = {
    "healthy": "#2a9d8f",
    "scaling": "#e9c46a",
    "pressure": "#f4a261",
    "critical": "#e76f51",
    "unknown": "#8d99ae",
}
STATE_ORDER = ["healthy", "scaling", "pressure", "critical", "unknown"]


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _finish(
    fig: Figure,
    ax: Axes,
    xlabel: str,
    ylabel: str,
    title: str,
    legend_at: Literal["upper right", "lower right"],
) -> str:
    """Labels, a 0..1 scale, a light grid and the legend: what the share charts have alike."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[1]:  # a chart with no series (no evidence) has no legend
        ax.legend(loc=legend_at, fontsize=8)
    return _svg(fig)


def survival_chart(
    estimates: dict[str, DurationEstimate], rows: dict[str, PhaseTimeout], phase: int
) -> str:
    """Kaplan-Meier survival of the phase's duration per VPC state, with the current (dotted)
    and recommended (dashed) timeouts."""
    fig = Figure(figsize=(9, 4.5))  # no pyplot: no global state, no screen
    ax = fig.subplots()
    for state in sorted(estimates, key=lambda s: STATE_ORDER.index(s) if s in STATE_ORDER else 9):
        km = estimates[state].km
        if km is None:
            continue
        colour = STATE_COLOURS.get(state, "#555555")
        ax.step(
            [0.0, *km.times],
            [1.0, *km.survival],
            where="post",
            color=colour,
            label=f"{state} ({estimates[state].attempts:,} attempts)",
        )
        row = rows.get(state)
        if row and row.timeout_s:
            ax.axvline(row.timeout_s, color=colour, linestyle="--", linewidth=1)
        if row and row.current_timeout_s:
            ax.axvline(row.current_timeout_s, color=colour, linestyle=":", linewidth=1)
    title = f"Phase {phase} duration by VPC state (dashed: recommended, dotted: current)"
    return _finish(fig, ax, "seconds", "share of attempts still running", title, "upper right")


def sweep_chart(sweep: list[SweepPoint], phase: int) -> str:
    """Predicted success rate against the timeout: the curve to pick a timeout from."""
    fig = Figure(figsize=(9, 4))  # no pyplot: no global state, no screen
    ax = fig.subplots()
    timeouts = [p.timeout_s for p in sweep]
    ax.plot(
        timeouts,
        [p.success_rate_predicted for p in sweep],
        color="black",
        linewidth=2,
        label="all states",
    )
    for state in sweep[0].by_state if sweep else []:
        ax.plot(
            timeouts,
            [p.by_state.get(state, 0.0) for p in sweep],
            color=STATE_COLOURS.get(state, "#555555"),
            label=state,
        )
    title = f"Phase {phase}: success rate against the timeout"
    return _finish(
        fig, ax, "phase timeout, seconds", "predicted success rate", title, "lower right"
    )


def timeline_chart(rows: list[dict[str, object]], start: datetime, end: datetime) -> str:
    """VPC state over time, with failed startups and breaker openings marked."""
    fig = Figure(figsize=(9, 3.2))  # no pyplot: no global state, no screen
    ax = fig.subplots()

    def when(value: object) -> float:
        assert isinstance(value, datetime)
        return float(mdates.date2num(max(value, start)))

    changes = [(when(r["ts"]), str(r["vpc_state"])) for r in rows if r["kind"] == "vpc_state"]
    levels = {s: i for i, s in enumerate(STATE_ORDER)}
    if changes:
        times = [t for t, _ in changes] + [float(mdates.date2num(end))]
        values = [levels.get(s, 4) for _, s in changes]
        ax.step(times, [*values, values[-1]], where="post", color="#264653", linewidth=1)
    for kind, label, marker, colour, height in (
        ("startup_failed", "failed startups", "x", "#e63946", 5.0),
        ("breaker_open", "breaker openings", "v", "#6a4c93", 5.5),
    ):
        marks = [when(r["ts"]) for r in rows if r["kind"] == kind]
        ax.scatter(
            marks,
            [height] * len(marks),
            marker=marker,
            color=colour,
            s=14,
            label=f"{label} ({len(marks):,})",
        )
    ax.set_ylim(-0.5, 6.0)
    ax.set_yticks(range(len(STATE_ORDER)), STATE_ORDER)
    ax.set_xlim(float(mdates.date2num(start)), float(mdates.date2num(end)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d", tz=UTC))
    ax.set_title("VPC connector state, failed startups and breaker openings")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8, ncol=2)
    return _svg(fig)
