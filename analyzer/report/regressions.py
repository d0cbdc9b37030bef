"""The report's section on regressions by revision: the phases each service's newest revision
made slower beyond noise."""

from __future__ import annotations

import html
from collections.abc import Callable

from analyzer.analysis.regressions import regressions
from analyzer.engine import Engine
from analyzer.errors import AnalyzerError


def regressions_section(
    *, engine: Engine, env: str, since: str, table: Callable[[list[str], list[list[str]]], str]
) -> list[str]:
    """The section's HTML parts: the flagged comparisons as a table (`table` draws it), or a
    sentence saying none was found, or why nothing could be compared."""
    parts = ["<h2>Regressions by revision</h2>"]
    try:
        report = regressions(engine=engine, env=env, since=since)
    except AnalyzerError as exc:
        return [*parts, f"<p class='note'>Not compared: {html.escape(str(exc))}.</p>"]
    parts.append(
        "<p class='note'>Each service's newest revision against the revisions before it in the "
        "window, per phase and VPC state (and over all states, stratified): Kaplan-Meier "
        "medians and p95, a one-sided log-rank test, Benjamini-Hochberg at a false discovery "
        f"rate of {100 * report.fdr:g} % over {len(report.comparisons)} comparisons "
        "(`analyze regressions` lists them all).</p>"
    )
    flagged = report.flagged
    if not flagged:
        return [*parts, "<p>No phase slower beyond noise.</p>"]
    rows = [
        [
            c.service,
            c.revision,
            f"{c.first_seen:%Y-%m-%d %H:%M}",
            f"{c.phase} {c.operation}",
            c.vpc_state,
            f"{c.attempts_new:,} / {c.attempts_baseline:,}",
            c.median.text(),
            c.p95.text(),
            f"{c.q_value:.3g}",
        ]
        for c in flagged
    ]
    headers = ["service", "revision", "first seen", "phase", "VPC state", "attempts new / before"]
    return [*parts, table([*headers, "median ratio", "p95 ratio", "q"], rows)]
