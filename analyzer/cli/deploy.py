"""`export`: the config file deployments ship, and its check."""

from __future__ import annotations

from pathlib import Path

import click

from analyzer.cli.main import (
    ENV_HELP,
    main,
    store_option,
)
from analyzer.lake.store import Store


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
