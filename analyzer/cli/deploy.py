"""`export`: the config file deployments ship, its check, and its diff against the deployed one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from analyzer.cli.main import (
    ENV_HELP,
    existing_store,
    main,
    store_option,
)
from analyzer.cli.render import percent, table
from analyzer.errors import AnalyzerError, printable
from analyzer.lake.store import Store

if TYPE_CHECKING:
    from analyzer.deploy.diff import ConfigDiff, MinChange
    from analyzer.deploy.model import TimeoutConfig
    from analyzer.recommend.model import Recommendation


def _min_change(text: str) -> MinChange:
    """`10%`, `2s` or `10%,2s`: a change counts when it is larger than both. Each part at most
    once, a finite number of at least 0."""
    import math

    from analyzer.deploy.diff import MinChange

    found: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        unit = part[-1:]
        try:
            value = float(part[:-1])
        except ValueError:
            value = math.nan
        problem = None
        if unit not in ("%", "s"):
            problem = f"{text!r}"
        elif unit in found:
            problem = f"{text!r}: {unit} given twice"
        elif not math.isfinite(value) or value < 0:
            problem = f"{text!r}: {part!r} is not a number of 0 or more"
        if problem:
            raise click.BadParameter(
                f"{problem}; use 10%, 2s or 10%,2s", param_hint="'--min-change'"
            )
        found[unit] = value
    return MinChange(percent=found.get("%", 0.0), seconds=found.get("s", 0.0))


@main.command(name="export")
@click.option("--env", default=None, help=ENV_HELP)
@store_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, allow_dash=True),
    default=None,
    help="Config file to write; - for standard output.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "yaml", "env"]),
    default=None,
    help="Default: from --out's suffix (.yaml, .env), else json.",
)
@click.option(
    "--run",
    "run_id",
    default=None,
    help="Saved run to export (an id from `analyze history`). Default: the latest saved run.",
)
@click.option(
    "--diff",
    "deployed",
    type=click.Path(dir_okay=False),
    default=None,
    help="The deployed config: print each value that changes, old -> new, with the predicted "
    "timeout rate under each; exit 0 when nothing changes beyond --min-change, 1 when "
    "something does. Its vpc and pool blocks (set by hand: no run recommends them) are kept.",
)
@click.option(
    "--min-change",
    default="10%,2s",
    show_default=True,
    help="With --diff: a change counts when larger than both (10%, 2s, or 10%,2s).",
)
@click.option(
    "--service",
    "services",
    multiple=True,
    metavar="NAME",
    help="Write only this service's section (repeatable); the env default section is always "
    "written. Default: a section for every service of the run.",
)
@click.option(
    "--check",
    "check",
    type=click.Path(dir_okay=False),
    default=None,
    help="Validate this config file instead, with the rules the runtime applies.",
)
def export_command(
    env: str | None,
    store: str | None,
    out: str | None,
    fmt: str | None,
    run_id: str | None,
    deployed: str | None,
    min_change: str,
    services: tuple[str, ...],
    check: str | None,
) -> None:
    """Export a saved recommendation as a versioned config file for deployments.

    The run exported is the latest saved one (`recommend` saves runs made with the env's
    standing window and policy, others only with --save), or the one --run names; it is
    printed on standard error. The file holds the env default (`timeouts`) and one section
    per service of the run (`services`; --service limits them); services read it with
    `analyzer.runtime` (path in $ANALYZER_TIMEOUT_CONFIG), each taking its own section by
    $K_SERVICE. Its JSON Schema is analyzer/deploy/schemas/timeout-config.v3.schema.json.

    Example:

        analyze export --env staging --diff deployed/timeouts.json --out timeouts.json
        analyze export --env staging --service netra-backend-staging --out - --format yaml
        analyze export --check timeouts.json
    """
    from analyzer.deploy.model import check_config_file, describe_config, render_config

    if check:  # no statistics needed: starts without numpy or scipy
        described = describe_config(check_config_file(Path(check)))
        click.echo(printable(f"{check}: {described}"))
        return
    from analyzer.deploy.export import (
        config_from_recommendation,
        keep_hand_set_blocks,
        write_config,
    )
    from analyzer.recommend.history import chosen_run, describe_run

    if not env or not (out or deployed):
        raise click.UsageError(
            "give --env and --out (or --diff) to export, or --check FILE to validate"
        )
    threshold = _min_change(min_change)
    lake = existing_store(store)
    run = chosen_run(lake, env, run_id)
    click.echo(f"exporting {describe_run(run)}", err=True)
    config = config_from_recommendation(run, services or None)
    result: ConfigDiff | None = None
    if deployed:
        old = _deployed_config(deployed, config)
        config, kept = keep_hand_set_blocks(config, old)
        if kept:
            click.echo(f"kept from {deployed}: {', '.join(kept)}", err=True)
        result = _diff(lake, run, old, config, threshold)
        click.echo(format_diff(result, deployed), err=out == "-")
    if out == "-":
        click.echo(render_config(config, fmt or "json"), nl=False)
    elif out:
        chosen = fmt or {".yaml": "yaml", ".yml": "yaml", ".env": "env"}.get(
            Path(out).suffix, "json"
        )
        click.echo(f"wrote {write_config(config, Path(out), chosen)} ({chosen})", err=True)
    if result is not None and result.significant:
        sys.exit(1)


def _deployed_config(deployed: str, config: TimeoutConfig) -> TimeoutConfig:
    """The --diff file, checked, and for the env exported."""
    from analyzer.deploy.model import check_config_file

    try:
        old = check_config_file(Path(deployed))
    except AnalyzerError as exc:
        raise AnalyzerError(f"--diff: {exc}", exit_code=2) from exc
    if old.env.lower() != config.env.lower():
        raise AnalyzerError(
            f"--diff: {deployed} is a config for env {old.env!r}, not {config.env!r}", exit_code=2
        )
    return old


def _diff(
    lake: Store,
    run: Recommendation,
    old: TimeoutConfig,
    config: TimeoutConfig,
    threshold: MinChange,
) -> ConfigDiff:
    from analyzer.deploy.diff import compared_values, diff_configs, section_names
    from analyzer.engine import local_engine
    from analyzer.recommend.rates import timeout_rates

    # the rates of the values the diff compares: the default's, then each section's
    values = {
        service: {
            key: {v for v in pair if v is not None}
            for key, pair in compared_values(old, config, service).items()
        }
        for service in [None, *section_names(old, config)]
    }
    rates = timeout_rates(local_engine(lake), run, values)
    return diff_configs(old, config, min_change=threshold, rates=rates)


def _value(value: float | str | None, key: str) -> str:
    if value is None:
        return "(default)" if key.startswith("breaker/") else "(none)"
    if isinstance(value, str):
        return value
    return f"{value:g} s" if key.endswith("_s") or not key.startswith("breaker/") else f"{value:g}"


def format_diff(result: ConfigDiff, deployed: str) -> str:
    if not result.changes:
        return f"no change against {deployed}"
    rows = [
        [
            f"{c.service}: {c.key}" if c.service else c.key,
            f"{_value(c.old, c.key)} -> {_value(c.new, c.key)}",
            percent(c.rate_old),
            percent(c.rate_new),
            c.source or "",
            "yes"
            if c.significant
            else f"no (under {result.min_change.percent:g} % or {result.min_change.seconds:g} s)",
        ]
        for c in result.changes
    ]
    counted = sum(c.significant for c in result.changes)
    return (
        f"{len(result.changes)} value(s) differ from {deployed}, {counted} beyond --min-change:\n"
        + table(
            ["key", "deployed -> new", "timeout rate deployed", "new", "source", "counts"], rows
        )
    )
