"""`regressions` and `blame`: what a deploy changed, and where startup time goes, per service;
and the text they print."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

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
from analyzer.engine import Engine
from analyzer.errors import AnalyzerError

if TYPE_CHECKING:
    from analyzer.analysis.blame import Blame
    from analyzer.analysis.regressions import RegressionReport, RevisionComparison

SINCE_HELP = "Window start: a span back from its end (28d, 2w, 12h) or an ISO-8601 time."
UNTIL_HELP = "Window end (ISO-8601). Default: the env's last event."
F = TypeVar("F", bound=Callable[..., Any])


def service_window_options(since: str) -> Callable[[F], F]:
    """--env, --store, the engine's options, --service, --since (defaulting to `since`) and
    --until."""

    def add(func: F) -> F:
        for option in (
            click.option("--until", default=None, help=UNTIL_HELP),
            click.option("--since", default=since, show_default=True, help=SINCE_HELP),
            click.option("--service", default=None, help="Only this service (its Cloud Run name)."),
            engine_options,
            store_option,
            env_option,
        ):
            func = option(func)
        return func

    return add


@main.command()
@service_window_options(since="28d")
@click.option(
    "--revisions",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="How many of each service's newest revisions to test, each against those before it.",
)
@click.option(
    "--fdr",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="False discovery rate across every comparison (Benjamini-Hochberg). [default: 0.02]",
)
@format_option("table", "json")
@click.option(
    "--fail-on-regression",
    is_flag=True,
    help="Exit 1 when a comparison is flagged (a deploy gate); the report is printed first.",
)
def regressions(
    env: str,
    store: str | None,
    service: str | None,
    since: str,
    until: str | None,
    revisions: int,
    fdr: float | None,
    fmt: str,
    fail_on_regression: bool,
) -> None:
    """Did a deploy make a phase slower? Each service's newest revision against the ones before.

    Per phase, operation and VPC state (and over all states, stratified by state): the ratio
    of Kaplan-Meier medians and p95 with 95 % intervals, and a one-sided log-rank test that
    counts timed-out and failed attempts as censored. Comparisons whose Benjamini-Hochberg
    q-value is at most --fdr are flagged (marked SLOWER).

    Example:

        analyze regressions --env staging --service netra-backend-staging --since 28d
        analyze regressions --env staging --fail-on-regression
    """
    from analyzer.analysis.regressions import FDR
    from analyzer.analysis.regressions import regressions as find_regressions

    report = find_regressions(
        engine=command_engine(existing_store(store)),
        env=env,
        service=service,
        since=since,
        until=until,
        revisions=revisions,
        fdr=FDR if fdr is None else fdr,
    )
    click.echo(render_model(report, fmt, format_regressions))
    if fail_on_regression and report.flagged:
        raise AnalyzerError(
            f"{len(report.flagged)} comparison(s) flagged slower (--fail-on-regression)"
        )


def regression_line(c: RevisionComparison) -> str:
    """One flagged comparison in a sentence (also the `recommend` note)."""
    return (
        f"{c.service} {c.revision} (first seen {when(c.first_seen)}): phase {c.phase} "
        f"{c.operation}, {c.vpc_state} state{'s' if c.vpc_state == 'all' else ''}: median "
        f"{c.median.text()}, q {c.q_value:.3g}"
    )


def changed_since_note(engine: Engine, env: str, *, since: str, until: str | None) -> str:
    """The weekly `recommend` table's last lines: what each service's newest revision made
    slower (`analyze regressions`), or that nothing was; nothing where no service has two
    revisions to compare."""
    from analyzer.analysis.regressions import regressions as find_regressions
    from analyzer.errors import AnalyzerError

    try:
        report = find_regressions(engine=engine, env=env, since=since, until=until)
    except AnalyzerError:
        return ""
    if not report.comparisons:
        return ""
    flagged = [c for c in report.flagged if c.vpc_state == "all"]
    if not flagged:
        return (
            "\nChanged since the revisions before: no phase slower beyond noise in each "
            "service's newest revision (analyze regressions)."
        )
    lines = ["", "Changed since the revisions before (analyze regressions):"]
    return "\n".join(lines + ["  slower: " + regression_line(c) for c in flagged])


def format_regressions(report: RegressionReport) -> str:
    head = [
        f"env {report.env}: phase attempts from {when(report.window.start)} to "
        f"{when(report.window.end)}; each service's {report.revisions} newest revision(s) "
        "against the ones before",
        f"one-sided log-rank tests, Benjamini-Hochberg at a false discovery rate of "
        f"{percent(report.fdr)} (phases first, then their states); intervals 95 %",
        "",
    ]
    if not report.comparisons:
        return "\n".join(
            [
                *head,
                "nothing to compare: no service has in the window both a newest revision and "
                "earlier ones with at least 10 attempts in one phase and state (widen --since)",
            ]
        )
    rows = [
        [
            c.service,
            c.revision,
            c.phase,
            c.operation,
            c.vpc_state,
            c.attempts_new,
            c.attempts_baseline,
            c.median.text(),
            c.p95.text(),
            round(c.logrank_z, 2),
            f"{c.q_value:.3g}",
            "SLOWER" if c.flagged else "",
        ]
        for c in report.comparisons
    ]
    headers = [
        "service",
        "revision",
        "phase",
        "operation",
        "vpc_state",
        "new",
        "before",
        "median ratio",
        "p95 ratio",
        "z",
        "q",
        "",
    ]
    flagged = [c for c in report.comparisons if c.flagged and c.vpc_state == "all"]
    tail = [f"{len(flagged)} phase(s) slower beyond noise" + (":" if flagged else ".")]
    tail += ["  " + regression_line(c) for c in flagged]
    if report.not_compared:
        tail.append(
            f"{report.not_compared} phase x state cell(s) had too few attempts on a side to "
            "compare (fewer than 10, or no completion)"
        )
    return "\n".join([*head, table(headers, rows), "", *tail])


@main.command()
@service_window_options(since="7d")
@click.option(
    "--top", type=click.IntRange(min=1), default=10, show_default=True, help="Startups listed."
)
@format_option("table", "json")
def blame(
    env: str,
    store: str | None,
    service: str | None,
    since: str,
    until: str | None,
    top: int,
    fmt: str,
) -> None:
    """The slowest startups and the phase that cost each the most, like systemd-analyze blame.

    Then the share of startup time each phase takes, per service and VPC state.

    Example:

        analyze blame --env staging --since 7d --top 5
    """
    from analyzer.analysis.blame import blame as find_blame

    result = find_blame(
        engine=command_engine(existing_store(store)),
        env=env,
        service=service,
        since=since,
        until=until,
        top=top,
    )
    click.echo(render_model(result, fmt, format_blame))


def format_blame(b: Blame) -> str:
    slow = [
        [
            f"{s.duration_s:,.1f} s",
            when(s.started_at),
            s.service,
            s.revision,
            s.startup_id[:12],
            s.outcome,
            f"{s.phase} {s.phase_name or ''}".strip()
            + ("" if s.operation == "initialization" else f" ({s.operation})"),
            f"{s.phase_duration_s:,.1f} s",
            percent(s.phase_share),
            s.phase_outcome,
            s.vpc_state,
        ]
        for s in b.slowest
    ]
    phases = sorted({(p.phase, p.operation) for p in b.shares})
    labels = {
        (p.phase, p.operation): f"{p.phase} {p.phase_name or ''}".strip()
        + ("" if p.operation == "initialization" else f" ({p.operation})")
        for p in b.shares
    }
    cells: dict[tuple[str, str], dict[tuple[int, str], float]] = {}
    totals: dict[tuple[str, str], float] = {}
    for p in b.shares:
        cells.setdefault((p.service, p.vpc_state), {})[p.phase, p.operation] = p.share
        totals[p.service, p.vpc_state] = totals.get((p.service, p.vpc_state), 0.0) + p.total_s
    shares = [
        [service, state, f"{totals[service, state]:,.0f} s"]
        + [percent(row.get(key)) for key in phases]
        for (service, state), row in sorted(cells.items())
    ]
    return "\n".join(
        [
            f"env {b.env}: {b.startups:,} startups from {when(b.window.start)} to "
            f"{when(b.window.end)}",
            "",
            f"The {len(b.slowest)} slowest, with the phase that cost each the most:",
            table(
                [
                    "time",
                    "started",
                    "service",
                    "revision",
                    "startup",
                    "outcome",
                    "costliest phase",
                    "its time",
                    "share",
                    "its outcome",
                    "vpc_state",
                ],
                slow,
            ),
            "",
            "Where startup time goes: each phase's share of the time of all phase attempts,",
            "per service and VPC state:",
            table(["service", "vpc_state", "phase time"] + [labels[k] for k in phases], shares),
        ]
    )
