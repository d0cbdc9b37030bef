"""`import`, `collect` and `compact`: the commands that write the lake."""

from __future__ import annotations

import sys
from typing import Any

import click

from analyzer.cli.main import (
    env_option,
    main,
    store_option,
)
from analyzer.ingest import ImportProgress, import_paths
from analyzer.lake.store import Store


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

    --env selects: entries without an `env` field are stored under it, entries whose payload
    names another env are skipped and counted by env in the summary line (import them again
    with that --env); nothing is ever written under an env other than --env.

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
