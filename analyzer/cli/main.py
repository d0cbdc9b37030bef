"""The `analyze` command line: thin click commands over the library."""

from __future__ import annotations

import json
import shlex
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from analyzer.cli.render import percent, table, when
from analyzer.errors import AnalyzerError
from analyzer.ingest import ImportProgress, import_paths
from analyzer.lake.store import Store

if TYPE_CHECKING:  # imported where used: `analyze import` starts without pydantic or numpy
    from pydantic import BaseModel

    from analyzer.analysis.summary import Summary

ENV_HELP = "Deployment environment, e.g. staging or production."
STORE_HELP = "Lake folder. Default: $ANALYZER_STORE, else ./data/lake."


class AnalyzerGroup(click.Group):
    """Turns library errors into one red line and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AnalyzerError as exc:
            if ctx.meta.get("debug"):
                raise
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except Exception as exc:
            if ctx.meta.get("debug"):
                raise
            click.secho(
                f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
                fg="red",
                err=True,
            )
            sys.exit(70)


@click.group(cls=AnalyzerGroup)
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Startup telemetry analyzer: evidence-based phase timeouts for Cloud Run services.

    The weekly workflow: fill the lake (`import` or `collect`), look at it (`summary`),
    then get timeouts (`recommend`). `analyze demo` walks through it on bundled data.
    """
    ctx.meta["debug"] = debug


F = TypeVar("F", bound=Callable[..., Any])


def store_option(func: F) -> F:
    return click.option("--store", type=click.Path(file_okay=False), help=STORE_HELP)(func)


def env_option(func: F) -> F:
    return click.option("--env", required=True, help=ENV_HELP)(func)


def format_option(*choices: str) -> Callable[[F], F]:
    return click.option(
        "--format", "fmt", type=click.Choice(choices), default=choices[0], show_default=True
    )


def _progress_printer() -> Any:
    if not sys.stderr.isatty():
        return None

    def show(p: ImportProgress) -> None:
        share = p.bytes_done / p.bytes_total if p.bytes_total else 1.0
        click.echo(
            f"\rimporting: {p.files_done}/{p.files_total} files, {share:5.1%} of "
            f"{p.bytes_total / 1e6:,.1f} MB, {p.so_far.read:,} entries",
            err=True,
            nl=p.files_done == p.files_total,
        )

    return show


@main.command(name="import")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@env_option
@store_option
def import_command(paths: tuple[str, ...], env: str, store: str | None) -> None:
    """Import Cloud Logging exports into the lake.

    PATHS are files or folders (searched recursively for .json, .jsonl, .ndjson and .gz):
    `gcloud logging read --format=json` arrays and Log Router sink exports. Importing the
    same entries again adds nothing; malformed telemetry goes to the store's quarantine.

    Example:

        analyze import exports/ --env staging
    """
    result = import_paths(
        list(paths), env=env, store=Store.resolve(store), on_progress=_progress_printer()
    )
    click.echo(result.summary_line())
    for reason, count in sorted(result.quarantine_reasons.items()):
        click.echo(f"  quarantined {count:,}: {reason}")


@main.command()
@env_option
@click.option("--project", required=True, help="Google Cloud project whose logs to read.")
@click.option("--service", default=None, help="Cloud Run service name (default: every service).")
@click.option(
    "--filter",
    "extra_filter",
    default=None,
    help="More Cloud Logging filter, ANDed with the built-in one.",
)
@click.option(
    "--since",
    default=None,
    help="Window start: 7d, 12h or ISO-8601. Default: the checkpoint, else 7 days back.",
)
@click.option("--until", default=None, help="Window end (ISO-8601). Default: now.")
@store_option
@click.option("--api-endpoint", default=None, help="Another Logging API endpoint (HTTP/JSON).")
@click.option(
    "--anonymous",
    is_flag=True,
    help="No credentials (private endpoints and tests). Default: Application Default Credentials.",
)
@click.option(
    "--requests-per-minute",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Client-side limit on entries.list requests.",
)
@click.option(
    "--backoff-base-s",
    type=click.FloatRange(min=0.0),
    default=1.0,
    show_default=True,
    help="First wait after a 429/5xx/deadline error; doubles each retry.",
)
@click.option(
    "--max-retries",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Retries in a row before giving up (what was fetched stays stored).",
)
def collect(
    env: str,
    project: str,
    service: str | None,
    extra_filter: str | None,
    since: str | None,
    until: str | None,
    store: str | None,
    api_endpoint: str | None,
    anonymous: bool,
    requests_per_minute: float,
    backoff_base_s: float,
    max_retries: int,
) -> None:
    """Pull startup telemetry from Cloud Logging into the lake.

    Incremental: without --since a run resumes from the store's checkpoint for this env,
    project and filter (a few minutes of overlap, deduplicated by insertId). Quota-safe:
    paced on the client side, retried with backoff on 429 and 5xx. Entries are stored as
    they arrive, so an interrupted run loses nothing: run it again to resume.

    Example:

        analyze collect --env staging --project my-project --service backend --since 7d
    """
    from analyzer.ingest.collect import CollectProgress, CollectRequest
    from analyzer.ingest.collect import collect as run_collect

    request = CollectRequest(
        env=env,
        project=project,
        service=service,
        extra_filter=extra_filter,
        since=since,
        until=until,
        api_endpoint=api_endpoint,
        anonymous=anonymous,
        requests_per_minute=requests_per_minute,
        backoff_base_s=backoff_base_s,
        max_retries=max_retries,
    )

    def show(p: CollectProgress) -> None:
        click.echo(
            f"\rcollecting: {p.fetched:,} entries, {p.requests:,} requests, "
            f"{p.retries} retries, {p.entries_per_s:,.0f} entries/s, "
            f"{p.covered:5.1%} of the window",
            err=True,
            nl=p.covered >= 1.0,
        )

    result = run_collect(
        request, store=Store.resolve(store), on_progress=show if sys.stderr.isatty() else None
    )
    click.echo(result.summary_line())


@main.command()
@env_option
@store_option
@format_option("table", "json")
def summary(env: str, store: str | None, fmt: str) -> None:
    """Startups, success rate and phase outcomes per VPC state for one env.

    Example:

        analyze summary --env staging --format json
    """
    from analyzer.analysis.summary import summarize

    result = summarize(store=Store.resolve(store), env=env)
    click.echo(render_model(result, fmt, format_summary))


def format_summary(s: Summary) -> str:
    head = (
        f"env {s.env}: {when(s.window.start)} to {when(s.window.end)}\n"
        f"{s.events:,} events, {s.startups:,} startups: {s.startups_completed:,} completed, "
        f"{s.startups_failed:,} failed, {s.startups_incomplete:,} with no end seen; "
        f"success rate {percent(s.startup_success_rate)}\n"
    )
    rows = [
        [p.phase, p.operation, p.vpc_state, p.attempts, p.completed, p.timed_out, p.errors]
        for p in s.phases
    ]
    headers = ["phase", "operation", "vpc_state", "attempts", "completed", "timed_out", "errors"]
    return head + "\n" + table(headers, rows)


@main.command()
@env_option
@click.option(
    "--days",
    type=click.IntRange(1, 3660),
    default=28,
    show_default=True,
    help="Length of the window.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(),
    help=(
        "Where to write: NAME.json (gcloud array), NAME.jsonl[.gz] (sink lines) or a folder "
        "(Log Router sink layout)."
    ),
)
@click.option(
    "--seed", type=int, default=1278, show_default=True, help="Random seed: same seed, same bytes."
)
@click.option(
    "--form",
    type=click.Choice(["structured", "text"]),
    default="structured",
    show_default=True,
    help="jsonPayload events, or the seed's text lines.",
)
@click.option(
    "--startups-per-hour",
    type=click.FloatRange(min=0.01, max=100_000),
    default=None,
    help="Startup rate (default 3 in staging, 4 in production).",
)
def simulate(
    env: str, days: int, out: str, seed: int, form: str, startups_per_hour: float | None
) -> None:
    """Write a simulated Cloud Logging export of SMD startups drawn from known laws.

    Phase 3 (database) takes lognormal time by VPC connector state; the first half of the
    window runs a static 20 s timeout, the second half 75 s. Prints what it wrote as JSON:
    importing the export must reproduce those counts.

    Example:

        analyze simulate --env staging --days 28 --out staging.jsonl.gz
    """
    from analyzer.lake.store import check_env_name
    from analyzer.simulate import SimulationSpec, manifest_counts, write_export

    spec = SimulationSpec(
        env=check_env_name(env),
        days=days,
        seed=seed,
        form=form,  # type: ignore[arg-type]
        startups_per_hour=startups_per_hour,
    )
    manifest = write_export(spec, Path(out))
    click.echo(json.dumps(manifest_counts(manifest), indent=2))


@main.command(name="recommend")
@env_option
@store_option
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
    "--target-quantile", type=float, default=None, help="Quantile a timeout covers. [default: 0.99]"
)
@click.option("--margin", type=float, default=None, help="Headroom over it. [default: 0.2]")
@click.option(
    "--floor", "floor_s", type=float, default=None, help="Smallest timeout, s. [default: 5]"
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
    help="Breaker false trips a week allowed in healthy periods. [default: 1]",
)
@format_option("table", "json", "yaml")
@click.option("--no-history", is_flag=True, help="Do not append this run to the store's history.")
def recommend_command(
    env: str,
    store: str | None,
    since: str,
    until: str | None,
    half_life: str | None,
    fmt: str,
    no_history: bool,
    **policy: Any,
) -> None:
    """Recommend phase timeouts per VPC state and circuit-breaker settings.

    Durations cut short by a timeout or an error count as censored (Kaplan-Meier); where
    the data cannot reach a quantile, a lognormal fitted to them extrapolates (marked *).
    Each run is appended to the store's history (see `analyze history`).

    Example:

        analyze recommend --env staging --since 28d --format json
    """
    from analyzer.cli.recommend_text import format_recommendation
    from analyzer.recommend.history import append_recommendation
    from analyzer.recommend.model import make_policy
    from analyzer.recommend.timeouts import recommend
    from analyzer.timewindow import parse_span

    half_life_days = parse_span(half_life).total_seconds() / 86400 if half_life else None
    lake = Store.resolve(store)
    rec = recommend(
        store=lake,
        env=env,
        since=since,
        until=until,
        policy=make_policy(half_life_days=half_life_days, **policy),
    )
    if not no_history:
        append_recommendation(lake, rec)
    click.echo(render_model(rec, fmt, format_recommendation))


@main.command()
@env_option
@store_option
@format_option("table", "json")
def history(env: str, store: str | None, fmt: str) -> None:
    """Show how the recommendations for an env moved from run to run.

    Example:

        analyze history --env staging
    """
    from analyzer.cli.recommend_text import format_history
    from analyzer.recommend.history import required_history

    runs = required_history(Store.resolve(store), env)
    if fmt == "json":
        click.echo(json.dumps([r.model_dump(mode="json") for r in runs], indent=2))
    else:
        click.echo(format_history(runs))


@main.command(name="export")
@click.option("--env", default=None, help=ENV_HELP)
@store_option
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Config file to write.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "yaml", "env"]),
    default=None,
    help="Default: from --out's suffix (.yaml, .env), else json.",
)
@click.option(
    "--check",
    "check",
    type=click.Path(dir_okay=False),
    default=None,
    help="Validate this config file instead, and say exactly what is wrong.",
)
def export_command(
    env: str | None, store: str | None, out: str | None, fmt: str | None, check: str | None
) -> None:
    """Export the latest recommendation as a versioned config file for deployments.

    Services read it with `analyzer.runtime` (path in $ANALYZER_TIMEOUT_CONFIG). Its JSON
    Schema is analyzer/deploy/schemas/timeout-config.v1.schema.json.

    Example:

        analyze export --env staging --out timeouts.json
        analyze export --check timeouts.json
    """
    from analyzer.deploy.export import export_config
    from analyzer.deploy.model import check_config_file

    if check:
        config = check_config_file(Path(check))
        click.echo(f"{check}: valid config for env {config.env}, {len(config.timeouts)} timeouts")
        return
    if not env or not out:
        raise click.UsageError("give --env and --out to export, or --check FILE to validate")
    chosen = fmt or {".yaml": "yaml", ".yml": "yaml", ".env": "env"}.get(Path(out).suffix, "json")
    path = export_config(store=Store.resolve(store), env=env, out=Path(out), fmt=chosen)
    click.echo(f"wrote {path} ({chosen})")


@main.command(name="backtest")
@env_option
@store_option
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Exported config to replay. Default: the env's latest recommendation.",
)
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
@format_option("table", "json")
def backtest_command(
    env: str,
    store: str | None,
    config_file: str | None,
    timeout_s: float | None,
    phase: int,
    since: str,
    until: str | None,
    sweep: bool,
    fmt: str,
) -> None:
    """Replay the window's phase attempts under a config and compare with what happened.

    Attempts cut at an old timeout finish under a longer one only with the chance their
    duration estimate gives (Kaplan-Meier and the fitted tail), never for certain.

    Example:

        analyze backtest --env staging --timeout-s 20
        analyze backtest --env staging --sweep
    """
    from analyzer.backtest.replay import backtest, replay_config
    from analyzer.cli.backtest_text import format_backtest

    lake = Store.resolve(store)
    name, timeouts, breaker = replay_config(
        lake, env, config_file=config_file, static_timeout_s=timeout_s, phase=phase
    )
    result = backtest(
        store=lake,
        env=env,
        timeouts=timeouts,
        breaker=breaker,
        config_name=name,
        phase=phase,
        since=since,
        until=until,
        sweep=sweep,
    )
    click.echo(render_model(result, fmt, format_backtest))


@main.command()
@env_option
@store_option
@click.option(
    "--min-segments",
    type=click.IntRange(min=2),
    default=2,
    show_default=True,
    help="Rewrite a day only when it has at least this many segments.",
)
def compact(env: str, store: str | None, min_segments: int) -> None:
    """Rewrite each day's many small segments (left by frequent collect runs) as one.

    Every event is kept; queries read fewer files afterwards.

    Example:

        analyze compact --env staging
    """
    from analyzer.lake.compact import compact as run_compact

    result = run_compact(store=Store.resolve(store), env=env, min_segments=min_segments)
    click.echo(result.summary_line())


@main.command()
@env_option
@store_option
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="HTML file to write.")
@click.option(
    "--since", default="28d", show_default=True, help="Window start: 28d, 2w or ISO-8601."
)
def report(env: str, store: str | None, out: str, since: str) -> None:
    """Write one self-contained HTML report: charts and the recommendation's evidence.

    Phase-3 survival curves per VPC state with the current and recommended timeouts, the
    success rate against the timeout, a timeline of VPC states and failures, and the
    recommendation table. It opens with no network.

    Example:

        analyze report --env staging --out report.html
    """
    from analyzer.report import write_report

    path = write_report(store=Store.resolve(store), env=env, out=Path(out), since=since)
    click.echo(f"wrote {path}")


def render_model(model: BaseModel, fmt: str, as_table: Any) -> str:
    """One pydantic model as json, yaml, or the given table formatter."""
    if fmt == "json":
        return model.model_dump_json(indent=2)
    if fmt == "yaml":
        import yaml

        return str(yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False))
    return str(as_table(model))


@main.command()
@click.option(
    "--sample",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Folder of sample exports, one sub-folder per env. Default: data/sample.",
)
@click.option(
    "--store",
    type=click.Path(file_okay=False),
    default=None,
    help="Lake folder to fill. Default: a fresh temporary folder.",
)
@click.pass_context
def demo(ctx: click.Context, sample: str | None, store: str | None) -> None:
    """Run the weekly workflow on the bundled sample data, showing each command.

    Imports every env of data/sample into a fresh store, runs the main job for staging
    and exports its config for services. Copy the commands it prints to run them on your
    own exports.

    Example:

        analyze demo
    """
    from analyzer.simulate import sample_dir

    folder = Path(sample) if sample else sample_dir()
    envs = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if not envs:
        raise AnalyzerError(f"no sample data in {folder}: expected one folder per env")
    lake = store or tempfile.mkdtemp(prefix="analyzer-demo-")
    commands = [["import", str(folder / env), "--env", env, "--store", lake] for env in envs]
    commands.append(["summary", "--env", "staging", "--store", lake])
    commands.append(["recommend", "--env", "staging", "--store", lake])
    commands.append(
        [
            "export",
            "--env",
            "staging",
            "--store",
            lake,
            "--out",
            str(Path(lake) / "timeouts-staging.json"),
        ]
    )
    for args in commands:
        _run_shown(ctx, args)


def _run_shown(ctx: click.Context, args: Sequence[str]) -> None:
    click.secho("$ analyze " + shlex.join(args), bold=True)
    sub = main.make_context("analyze", list(args), parent=ctx.parent)
    with sub:
        main.invoke(sub)
    click.echo()
