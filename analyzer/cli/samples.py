"""`simulate` and `demo`: sample data drawn from known laws, and the guided walk-through."""

from __future__ import annotations

import json
import shlex
import tempfile
from collections.abc import Sequence
from pathlib import Path

import click

from analyzer.cli.main import (
    env_option,
    main,
    without_project_file,
)
from analyzer.errors import AnalyzerError


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
    help="Startup rate (default 3 in staging, 4 in production); with --services, per service.",
)
@click.option(
    "--startups-per-day",
    type=click.FloatRange(min=0.1, max=2_400_000),
    default=None,
    help="Startup rate per day instead of per hour.",
)
@click.option(
    "--law",
    "laws",
    multiple=True,
    metavar="STATE=LAW",
    help="Phase 3's law in a VPC state instead of the sample's: lognormal(MEDIAN_S,SIGMA), "
    "weibull(MEDIAN_S,SHAPE), mix(FAST,SLOW,SLOW_SHARE), shift(BEFORE,AFTER,AT); repeatable.",
)
@click.option(
    "--services",
    default=None,
    help=(
        "A fleet sharing one VPC timeline: backend, auth, billing, or NAME=SCALE (phase-3 "
        "medians times SCALE), comma-separated. Default: the single-service sample."
    ),
)
@click.option(
    "--deploy-every",
    type=click.FloatRange(min=0.1),
    default=3.0,
    show_default=True,
    help="With --services: days between a service's deploys (each within a quarter of it).",
)
@click.option(
    "--regression",
    default=None,
    help="With --services: SERVICE:FACTOR multiplies phase-3 durations of its newest revision.",
)
@click.option(
    "--weekly-strain/--no-weekly-strain",
    default=False,
    show_default=True,
    help="The connector's busy hours (13:00-21:59 UTC) on weekdays only, the weekend quiet: "
    "a weekly pattern of strain for `analyze capacity`. Off: every day alike, as the bundled "
    "sample was made.",
)
def simulate(
    env: str,
    days: int,
    out: str,
    seed: int,
    form: str,
    startups_per_hour: float | None,
    startups_per_day: float | None,
    laws: tuple[str, ...],
    services: str | None,
    deploy_every: float,
    regression: str | None,
    weekly_strain: bool,
) -> None:
    """Write a simulated Cloud Logging export of SMD startups drawn from known laws.

    Phase 3 (database) takes lognormal time by VPC connector state; the first half of the
    window runs a static 20 s timeout, the second half 75 s. Prints what it wrote as JSON:
    importing the export must reproduce those counts. With --services, several services
    read one VPC timeline, each deployed every few days; --regression makes one service's
    newest revision slower in phase 3.

    Example:

        analyze simulate --env staging --days 28 --out staging.jsonl.gz
        analyze simulate --env staging --days 56 --weekly-strain --out weekly.jsonl.gz
        analyze simulate --env staging --services backend,auth --regression auth:1.3 --out f.jsonl
        analyze simulate --env staging --startups-per-day 12 --law "critical=weibull(45,1.5)" \
            --out w.jsonl
    """
    from analyzer.lake.store import check_env_name
    from analyzer.simulate import simulation_spec

    spec = simulation_spec(
        env=check_env_name(env),
        days=days,
        seed=seed,
        form=form,
        startups_per_hour=startups_per_hour,
        startups_per_day=startups_per_day,
        laws=laws,
        weekly_strain=weekly_strain,
    )
    from analyzer.simulate import manifest_counts, write_export

    if services is not None and laws:
        raise AnalyzerError("--law sets the single-service sample's laws: not with --services")
    if services is None:
        if regression is not None:
            raise AnalyzerError("--regression needs --services (a fleet with revisions)")
        manifest = write_export(spec, Path(out))
    else:
        from analyzer.simulate_fleet import (
            FleetSpec,
            parse_regression,
            parse_services,
            write_fleet_export,
        )

        fleet = parse_services(services)
        manifest = write_fleet_export(
            FleetSpec(
                spec=spec,
                services=fleet,
                deploy_every_days=deploy_every,
                regression=parse_regression(regression, fleet) if regression else None,
            ),
            Path(out),
        )
    click.echo(json.dumps(manifest_counts(manifest), indent=2))


@main.command()
@click.option(
    "--sample",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Folder of sample exports, one sub-folder per env. Default: the sample shipped "
    "inside the package (data/sample of the repository).",
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

    Imports every env of the bundled sample (shipped in the package) into a fresh store; for
    staging, a fleet of two services, it shows the summary per service, runs the main job
    (recommend), replays it per service (backtest), finds the deploy that made a phase slower
    (regressions), the slowest startups (blame), when the VPC connector strains and what it
    costs (capacity; the sample's four weeks are just enough for a forecast), and exports the
    config for services.
    Copy the commands it prints to run them on your own exports.

    Example:

        analyze demo
    """
    from analyzer.simulate import sample_dir

    folder = Path(sample) if sample else sample_dir()
    envs = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if not envs:
        raise AnalyzerError(f"no sample data in {folder}: expected one folder per env")
    lake = store or tempfile.mkdtemp(prefix="analyzer-demo-")
    without_project_file(ctx)
    commands = [["import", str(folder / env), "--env", env, "--store", lake] for env in envs]
    on = ["--env", "staging", "--store", lake]
    commands.append(["summary", *on])
    commands.append(["recommend", *on])
    commands.append(["backtest", *on])
    commands.append(["regressions", *on])
    commands.append(["blame", *on, "--top", "5"])
    commands.append(["capacity", *on])
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
    click.echo(
        f"The demo's store is {lake} (kept: look around with `analyze history --env staging "
        f"--store {lake}`, then remove it)."
    )


def _run_shown(ctx: click.Context, args: Sequence[str]) -> None:
    click.secho("$ analyze " + shlex.join(args), bold=True)
    sub = main.make_context("analyze", list(args), parent=ctx.parent)
    with sub:
        main.invoke(sub)
    click.echo()
