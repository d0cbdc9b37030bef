"""`recommend` and `history`, and the text tables they print."""

from __future__ import annotations

import json
import textwrap
from functools import partial
from typing import TYPE_CHECKING, Any

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
from analyzer.cli.render_csv import csv_text

if TYPE_CHECKING:  # imported where used: other commands start without pydantic or numpy
    from analyzer.recommend.model import Breaker, PhaseTimeout, Recommendation
    from analyzer.recommend.policy import Policy

service_option = click.option(
    "--service",
    "service",
    multiple=True,
    help="Only this service's rows (its Cloud Run name; repeatable). Default: the project "
    "file's `service` for the env, else every service of the env, each on its own, and the "
    "env-wide rows (every service pooled: the config's default section).",
)
ENV_WIDE = "every service pooled"


@main.command(name="recommend")
@env_option
@store_option
@engine_options
@click.option(
    "--since",
    default="28d",
    show_default=True,
    help="Window start: a span back from its end (28d, 2w, 12h) or an ISO-8601 time.",
)
@click.option("--until", default=None, help="Window end (ISO-8601). Default: the env's last event.")
@click.option(
    "--half-life", default=None, help="Weigh older attempts less: weight halves per span (e.g. 7d)."
)
@click.option(
    "--target-rate",
    type=float,
    default=None,
    help="Share of attempts a timeout may let time out in each state, met at the upper "
    "confidence bound (the default policy). [default: 0.005]",
)
@click.option(
    "--target-quantile",
    type=float,
    default=None,
    help="Instead: timeout = this quantile x (1 + --margin). [default: 0.99]",
)
@click.option("--margin", type=float, default=None, help="Headroom over it. [default: 0.2]")
@click.option("--confidence", type=float, default=None, help="Level of the bounds. [default: 0.95]")
@click.option(
    "--joint",
    is_flag=True,
    default=None,
    help="Make each phase's VPC states' bounds hold jointly (Sidak).",
)
@click.option(
    "--floor",
    "floor_s",
    type=float,
    default=None,
    help="Smallest timeout, s: at least 1, the shortest a config may set. [default: 5]",
)
@click.option(
    "--ceiling", "ceiling_s", type=float, default=None, help="Largest timeout, s. [default: 240]"
)
@click.option(
    "--step",
    "step_s",
    type=float,
    default=None,
    help="Round up to a multiple of this, s. [default: 1]",
)
@click.option(
    "--min-attempts", type=int, default=None, help="Fewer attempts give no number. [default: 20]"
)
@click.option(
    "--max-false-trips",
    type=float,
    default=None,
    help="Breaker false opens allowed per process-week on healthy calls, at the calls a "
    "process makes as its breaker_summary events show (held in 99.9 % of process-weeks; "
    "without those events the runtime's built-in breaker ships). [default: 1]",
)
@click.option(
    "--previous",
    "previous_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="The deployed config: where evidence is thin, its values are carried over. "
    "Default: --deployed's, else the latest saved run's.",
)
@click.option(
    "--deployed",
    "deployed_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="The config file the deployment ships (the project file's `deployed` for the env): "
    "carried over from whether or not the store has history, so a key without evidence never "
    "drops below it; while it does not exist yet, the latest saved run's values are. "
    "--previous wins over it.",
)
@service_option
@format_option("table", "json", "yaml", "csv")
@click.option(
    "--save",
    is_flag=True,
    help="Save this run to history even with --since/--until/policy options.",
)
@click.option("--no-history", is_flag=True, help="Do not save this run, even a standing one.")
@click.option(
    "--all",
    "every_key",
    is_flag=True,
    help="The table shows every key with all its evidence (default: the keys with evidence "
    "or a change against what is deployed, current -> recommended).",
)
def recommend_command(
    env: str,
    store: str | None,
    since: str,
    until: str | None,
    half_life: str | None,
    previous_file: str | None,
    deployed_file: str | None,
    service: tuple[str, ...],
    fmt: str,
    save: bool,
    no_history: bool,
    every_key: bool,
    **policy: Any,
) -> None:
    """Recommend phase timeouts per service and VPC state, and circuit-breaker settings.

    Durations cut short by a timeout or an error count as censored (Kaplan-Meier); beyond
    the data the curve goes on along a lognormal fitted to them (marked *). By default each
    timeout lets at most 0.5 % of its state's attempts time out at the upper 95 % bound
    (--target-rate); --target-quantile/--margin give p99 x 1.2 instead. Warnings say where
    the numbers are weak. A key without enough evidence keeps the larger of the previous
    export's value and the runtime's built-in default (marked "previous" or "default").

    Each service gets its own rows, and the env-wide rows pool them all. A service with too
    few attempts in a state takes the env's timeout widened by how much services differ
    (marked pooled), unless its own attempts show it slower than the others: then its own
    conservative value. --service only narrows what is shown: the run holds every service.

    A run with the env's standing window and policy (no --since, --until, --half-life or
    policy option) is saved to history, and that is what `export` ships; any other run is
    only for looking unless --save is given.

    Example:

        analyze recommend --env staging
        analyze recommend --env staging --service netra-backend-staging
        analyze recommend --env staging --since 14d --format json
        analyze recommend --env staging --deployed deploy/staging/timeouts.json
        analyze recommend --env staging --all
    """
    from analyzer.recommend.runs import run_recommendation

    # The standing run: what this command would use with no option given (the project
    # file's values for the env, else the defaults); a run that differs is a look.
    usual = click.get_current_context().default_map or {}
    standing = {k: usual.get(k) for k in ("since", "until", "half_life", *policy)}
    lake = existing_store(store)
    engine = command_engine(lake)
    rec, saved = run_recommendation(
        engine=engine,
        store=lake,
        env=env,
        since=since,
        until=until,
        half_life=half_life,
        previous_file=previous_file,
        deployed_file=deployed_file,
        save=False if no_history else (True if save else None),
        policy=policy,
        standing=standing,
        services=service,
    )
    shown = rec.for_services(service)
    as_table = partial(format_recommendation, every_key=every_key)
    click.echo(render_model(shown, fmt, as_table, csv_rows=["timeouts"]))
    if fmt == "table":  # the weekly read ends with what the newest deploys changed
        from analyzer.cli.fleet import changed_since_note

        note = changed_since_note(engine, env, since=since, until=until)
        if note:
            click.echo("\n".join(_wrapped(note.split("\n"))))
    if saved:
        click.echo(f"saved as run {rec.run_id} (`analyze export --env {env}` ships it)", err=True)
    else:
        why = (
            "--no-history"
            if no_history
            else "overrides " + ", ".join(f"{k}={v}" for k, v in rec.overrides.items())
        )
        click.echo(
            f"note: run {rec.run_id} not saved ({why}); `export` keeps shipping the latest saved "
            "run; add --save to record this one",
            err=True,
        )


@main.command()
@env_option
@store_option
@service_option
@format_option("table", "json", "csv")
@click.option(
    "--last",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Only the newest N runs. Default: every saved run.",
)
@click.option(
    "--changed",
    is_flag=True,
    help="Only the settings whose value moved between the runs shown (table and csv).",
)
def history(
    env: str,
    store: str | None,
    service: tuple[str, ...],
    fmt: str,
    last: int | None,
    changed: bool,
) -> None:
    """Show how the recommendations for an env moved from run to run, per service.

    Example:

        analyze history --env staging
        analyze history --env staging --last 4 --changed
        analyze history --env staging --service netra-backend-staging --format csv
    """
    from analyzer.recommend.history import required_history, runs_for_services

    runs = runs_for_services(required_history(existing_store(store), env), service)
    runs = runs[-last:] if last else runs
    if fmt == "json":
        click.echo(json.dumps([r.model_dump(mode="json") for r in runs], indent=2))
    elif fmt == "csv":
        click.echo(csv_text(history_records(runs, changed_only=changed)))
    else:
        click.echo(format_history(runs, changed_only=changed))


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


def _rule(p: Policy) -> str:
    bound = f"upper {100 * p.confidence:g} % bound" + (
        " (holding jointly over each phase's states)" if p.joint else ""
    )
    if p.target_rate is not None:
        return (
            f"timeout = the shortest that lets at most {100 * p.target_rate:g} % of attempts "
            f"time out in each state, at the {bound}"
        )
    return (
        f"timeout = p{100 * p.target_quantile:g} x (1 + {p.margin:g}), from the {bound} "
        f"when under {p.few_attempts} attempts"
    )


def _rate(point: float | None, upper: float | None) -> str:
    """Timeout rates near a 0.5 % target need two decimals."""
    if point is None:
        return "-"
    return f"{100 * point:.2f} %" + (f" (<= {100 * upper:.2f} %)" if upper is not None else "")


def _recommended(t: PhaseTimeout) -> str:
    if t.source != "recommended":
        where = {"previous": "previous export", "default": "built-in default"}
        return f"{_seconds(t.timeout_s)} (no evidence: {where.get(t.source, 'ceiling')})"
    text = _seconds(t.timeout_s) + (" (wide)" if t.widened else "")
    text += " (pooled)" if t.pooled else ""
    if t.below_previous and t.previous_timeout_s is not None:
        text += f" (down from {t.previous_timeout_s:g} s)"
    return text


_CLAMP_MARK = {"ceiling": "!", "floor": "_"}
_KEY_HEADERS = ("phase", "operation", "vpc_state", "attempts")  # each timeouts table opens so
WIDTH = 120  # the table's prose is wrapped to this; the default table fits it


def format_recommendation(rec: Recommendation, *, every_key: bool = False) -> str:
    """The run as a text table: by default the keys a reader acts on (those with evidence, or
    whose value moves against what is deployed), current -> recommended; `every_key`: every
    key with all its evidence."""
    p = rec.policy
    overrides = ", ".join(f"{k}={v}" for k, v in rec.overrides.items()) or "none"
    lines = [
        f"run {rec.run_id}, env {rec.env}: phase attempts from {when(rec.window.start)} to "
        f"{when(rec.window.end)}; overrides: {overrides}; carried over from: "
        f"{rec.previous_from or 'built-in defaults only'}",
        f"policy: {_rule(p)}, rounded up to {p.step_s:g} s, within "
        f"[{p.floor_s:g} s, {p.ceiling_s:g} s]"
        + (f"; weights halve every {p.half_life_days:g} days" if p.half_life_days else ""),
        "",
        "Timeouts (durations censored at timeouts and errors: Kaplan-Meier; * the lognormal "
        "fitted to them, joined on where the curve ends; n/a too few attempts: no evidence, so "
        "the value is carried over; pooled: too few of the service's own, the env's timeout "
        "widened by how much services differ; ! clamped to the ceiling; _ raised to the floor; "
        "fail then: predicted, with its upper bound)",
    ]
    if not every_key:
        lines.append(
            "current -> recommended: against the current (deployed) value; raise, lower: the "
            f"move; RAISE: the current value cuts off more than {100 * p.tolerated_rate:g} % of "
            "attempts now (act first); unknown=critical: the state whose numbers unknown takes."
        )
    hidden = 0
    for service, label in _sections(rec):
        rows = rec.rows_of(service)
        if every_key:
            lines += ["", label, _timeouts_table(rows, p)]
            continue
        acted_on = [t for t in rows if _acted_on(t)]
        hidden += len(rows) - len(acted_on)
        if acted_on:
            lines += ["", label, _quiet_table(acted_on, p)]
    if hidden:
        lines += [
            "",
            f"{hidden} key(s) without evidence and unchanged against the current value not "
            "shown (they keep it); --all shows every key",
        ]
    if rec.warnings:
        lines += ["", f"Warnings ({len(rec.warnings)})"]
        lines += [f"  - {w.message}" for w in rec.warnings]
    lines += ["", *breaker_lines(rec.breaker)]
    return "\n".join(_wrapped(lines))


def _wrapped(lines: list[str]) -> list[str]:
    """Prose lines longer than WIDTH wrapped, continuations indented as the line is, plus two;
    tables (one entry of many lines) left as they are."""
    out: list[str] = []
    for line in lines:
        if "\n" in line or len(line) <= WIDTH:
            out.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip()))
        out += textwrap.wrap(line, WIDTH, subsequent_indent=indent + "  ", break_on_hyphens=False)
    return out


def _acted_on(t: PhaseTimeout) -> bool:
    """A key with evidence, or whose value moves against the current one."""
    moved = t.current_timeout_s is not None and t.timeout_s != t.current_timeout_s
    return t.source == "recommended" or moved


def _change(t: PhaseTimeout, p: Policy) -> str:
    """The severity of the move against the current value (nothing: unchanged, or nothing
    deployed to move from)."""
    if t.current_timeout_s is None or t.timeout_s is None:
        return ""
    if t.timeout_s > t.current_timeout_s:
        now = t.timeout_rate_current
        return "RAISE" if now is not None and now > p.tolerated_rate else "raise"
    return "lower" if t.timeout_s < t.current_timeout_s else ""


def _quiet_table(rows: list[PhaseTimeout], p: Policy) -> str:
    """The rows a reader acts on: evidence in brief, current -> recommended, the change."""
    cells = []
    for t in rows:
        state = t.vpc_state + (f"={t.derived_from}" if t.derived_from else "")
        current = "none" if t.current_timeout_s is None else f"{t.current_timeout_s:g} s"
        value = "n/a" if t.timeout_s is None else f"{t.timeout_s:g} s"
        value += _CLAMP_MARK.get(t.clamped or "", "")
        if t.source != "recommended":
            value += f" ({t.source})"
        elif t.pooled:
            value += " (pooled)"
        cells.append(
            [
                t.phase,
                t.operation,
                state,
                t.attempts,
                _seconds(t.quantiles_s.p99, t.methods.p99),
                percent(t.timeout_rate_current),
                f"{current} -> {value} {_change(t, p)}".rstrip(),
                _rate(t.timeout_rate_recommended, t.timeout_rate_recommended_upper),
            ]
        )
    headers = [
        *_KEY_HEADERS,
        "p99",
        "fail now",
        "current -> recommended",
        "fail then",
    ]
    return table(headers, cells)


def breaker_lines(b: Breaker) -> list[str]:
    """The breaker settings with their evidence, as the table prints them."""
    ev = b.evidence
    head = f"Circuit breaker (phase {ev['phase']}'s dependency, {ev['calls']:,} startup calls"
    if "failure_rule" not in ev:  # a run saved before the rate mode
        return [
            head + ")",
            f"  failure_threshold   {b.failure_threshold} consecutive failures",
            f"  recovery_timeout_s  {b.recovery_timeout_s:g} s",
        ]
    life = ev["in_life"]
    lines = [
        head
        + (
            f", {life['calls']:,.0f} in-life calls)"
            if life["calls"]
            else ", no in-life calls in the lake)"
        ),
        f"  mode                {b.mode}",
    ]
    if "per_process" in ev:
        from analyzer.recommend.breaker import threshold_basis

        lines.append(
            f"  failure_threshold   {b.failure_threshold} in a row ({threshold_basis(ev)})"
        )
    rule, slow = ev["failure_rule"], ev["slow_rule"]
    if rule and b.mode == "rate":  # a run saved when the rate mode shipped
        lines.append(
            f"  window_calls        {b.window_calls}, minimum_calls {b.minimum_calls} "
            f"(false trips at most {ev['false_trip_target']})"
        )
        lines.append(
            f"  failure_rate        {percent(b.failure_rate_threshold)} (healthy calls open it "
            f"with chance {rule['false_trip_per_evaluation']:.1e} per evaluation; a full window "
            f"of {ev['strained_state']} calls with {percent(rule['trip_probability_strained'])})"
        )
    if slow and b.mode == "rate":
        lines.append(
            f"  slow_call_rate      {percent(b.slow_call_rate_threshold)} of calls over their "
            f"state's timeout (chance {slow['false_trip_per_evaluation']:.1e} per evaluation)"
        )
    episodes = ev["episodes"]
    counted = f"{episodes['count']} episodes, {episodes['censored']} still going at the end"
    if b.max_recovery_timeout_s is None:  # the built-in breaker: one wait, no backoff
        lines.append(
            f"  recovery_timeout_s  {b.recovery_timeout_s:g} s ({ev['recovery_timeout_source']})"
        )
    elif "max_recovery_timeout_source" in ev:
        failed = ev["probes_failed_in_a_median_episode"]
        lines += [
            f"  recovery_timeout_s  {b.recovery_timeout_s:g} s ({ev['recovery_timeout_source']}; "
            "what a false trip costs)",
            f"  max_recovery        x{b.backoff_multiplier:g} per failed probe up to "
            f"{b.max_recovery_timeout_s:g} s ({ev['max_recovery_timeout_source']}: {counted}"
            + ("" if failed is None else f"; {failed} failed probes in a median episode")
            + ")",
        ]
    else:  # a run saved before the wait started at one probe's time
        lines.append(
            f"  recovery_timeout_s  {b.recovery_timeout_s:g} s, x{b.backoff_multiplier:g} per "
            f"failed probe up to {b.max_recovery_timeout_s:g} s "
            f"({ev['recovery_timeout_source']}: {counted})"
        )
    half_open = f", at most {b.max_half_open_s:g} s half-open" if b.max_half_open_s else ""
    lines.append(f"  half_open_max_calls {b.half_open_max_calls}{half_open}")
    if "per_process" not in ev:  # a run saved before the per-process threshold
        lines.append(
            f"  failure_threshold   {b.failure_threshold} in a row (consecutive mode: "
            f"{ev['consecutive']['expected_false_trips_per_week']:.3f} false trips a week)"
        )
    if "rate_mode" in ev and rule:
        rate = ev["rate_mode"]
        lines.append(
            f"  rate mode (evidence only): window_calls {rate['window_calls']}, minimum_calls "
            f"{rate['minimum_calls']}, failure_rate {percent(rate['failure_rate_threshold'])}, "
            f"slow_call_rate {percent(rate['slow_call_rate_threshold'])} (false trips at most "
            f"{ev['false_trip_target']})"
        )
    lines.append(
        "  rates by VPC state under the recommended timeouts: "
        + ", ".join(
            f"{state} {percent(v['failure_rate'])} failed, {percent(v['slow_rate'])} slow "
            f"of {v['calls']:,.0f}"
            for state, v in ev["rates_by_state"].items()
        )
    )
    lines += [f"  limit: {text}" for text in ev["limits"]]
    lines.append(f"  model: {ev['model']}")
    return lines


def _sections(rec: Recommendation) -> list[tuple[str | None, str]]:
    """The table's sections: env-wide, then each service; one when the env's only service's
    rows are the env-wide ones."""
    services = list(dict.fromkeys(t.service for t in rec.timeouts))
    if services[:1] == [None] and len(services) == 2:
        only = services[1]
        same = [t.model_dump(exclude={"service"}) for t in rec.rows_of(only)]
        if same == [t.model_dump(exclude={"service"}) for t in rec.rows_of(None)]:
            return [(only, f"service {only} (the env's only service: the env-wide rows too)")]
    return [(s, f"service {s}" if s else f"env-wide ({ENV_WIDE}: the default)") for s in services]


def _timeouts_table(rows: list[PhaseTimeout], p: Policy) -> str:
    """One service's (or the env-wide) rows as a text table."""
    cells = []
    for t in rows:
        q, m = t.quantiles_s, t.methods
        state = t.vpc_state + (f" (= {t.derived_from})" if t.derived_from else "")
        cells.append(
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
                _recommended(t) + _CLAMP_MARK.get(t.clamped or "", ""),
                _rate(t.timeout_rate_recommended, t.timeout_rate_recommended_upper),
            ]
        )
    headers = [
        *_KEY_HEADERS,
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
    return table(headers, cells)


def format_history(runs: list[Recommendation], *, changed_only: bool = False) -> str:
    """How each recommended timeout moved from run to run."""
    lines = [f"{len(runs)} recommendation(s) for env {runs[0].env}, oldest first:"]
    lines += [
        f"  #{i + 1}  run {r.run_id}  made {when(r.generated_at)}  window {when(r.window.start)} "
        f"to {when(r.window.end)}  overrides: "
        + (", ".join(f"{k}={v}" for k, v in r.overrides.items()) or "none")
        for i, r in enumerate(runs)
    ]
    rows = []
    for key, values in _values_by_key(runs).items():
        if changed_only and len(set(values)) == 1:
            continue
        shown = ["-" if v is None else f"{v:g}" for v in values]
        unit = "" if key[2] == "failure_threshold" else " s"
        rows.append([key[0] or ENV_WIDE, *key[1:], " -> ".join(shown) + unit])
    headers = ["service", "phase", "operation", "vpc_state", "timeout"]
    if not rows:
        return "\n".join([*lines, "", "no setting moved between these runs"])
    return "\n".join(lines) + "\n\n" + table(headers, rows)


def _values_by_key(runs: list[Recommendation]) -> dict[tuple[str, Any, str, str], list[Any]]:
    """Each setting's value in each run, oldest first (None: the run has no such key): the
    timeouts by service, phase, operation and state, then the breaker's two settings."""
    # each run's rows by key, looked up, not searched: linear in the rows however many services
    indexed: list[dict[tuple[str, int, str, str], PhaseTimeout]] = []
    for r in runs:
        indexed.append({})
        for t in r.timeouts:
            indexed[-1].setdefault(_history_key(t), t)
    found: dict[tuple[str, Any, str, str], list[Any]] = {}
    for key in sorted({key for by_key in indexed for key in by_key}):
        rows = [by_key.get(key) for by_key in indexed]
        found[key] = [None if t is None else t.timeout_s for t in rows]
    for name in ("failure_threshold", "recovery_timeout_s"):
        found[("", "breaker", name, "")] = [getattr(r.breaker, name) for r in runs]
    return found


def _history_key(t: PhaseTimeout) -> tuple[str, int, str, str]:
    """Env-wide rows first, then each service's, by phase, operation and state."""
    return (t.service or "", t.phase, t.operation, t.vpc_state)


def history_records(
    runs: list[Recommendation], *, changed_only: bool = False
) -> list[dict[str, object]]:
    """The history table's values, one row per run and setting, for `--format csv`;
    `changed_only`: the settings whose value moved between the runs."""
    if changed_only:
        moved = {k for k, values in _values_by_key(runs).items() if len(set(values)) > 1}
        return [
            r
            for r in history_records(runs)
            if (r["service"] or "", r["phase"], r["operation"], r.get("vpc_state") or "") in moved
        ]
    rows: list[dict[str, object]] = []
    for i, r in enumerate(runs):
        run = {"run": i + 1, "generated_at": r.generated_at.isoformat(), "env": r.env}
        rows += [
            {
                **run,
                "service": t.service,
                "phase": t.phase,
                "operation": t.operation,
                "vpc_state": t.vpc_state,
                "value": t.timeout_s,
            }
            for t in r.timeouts
        ]
        for name in ("failure_threshold", "recovery_timeout_s"):
            value = getattr(r.breaker, name)
            rows.append(
                {**run, "service": None, "phase": "breaker", "operation": name, "value": value}
            )
    return rows
