"""`import`, `collect`, `compact` and `verify`: the commands that write and check the lake."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from analyzer.cli.main import (
    INTERRUPTED_META,
    env_option,
    existing_store,
    main,
    parse_bytes,
    store_option,
)
from analyzer.errors import AnalyzerError, did_you_mean
from analyzer.lake.store import Store

if TYPE_CHECKING:  # imported where used: every other command starts without the importer
    from analyzer.ingest import ImportProgress

F = TypeVar("F", bound=Callable[..., Any])


def lock_timeout_option(func: F) -> F:
    return click.option(
        "--lock-timeout",
        "lock_timeout_s",
        metavar="SECONDS",
        type=click.FloatRange(min=0.0),
        default=None,
        help="Seconds to wait for another writer's lock on the store before giving up. "
        "Default: wait (saying who holds it).",
    )(func)


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
@lock_timeout_option
def import_command(
    paths: tuple[str, ...], env: str, store: str | None, lock_timeout_s: float | None
) -> None:
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
    from analyzer.ingest import import_paths
    from analyzer.lake.verify import naming_damaged_segments

    lake = Store.resolve(store, lock_timeout_s=lock_timeout_s)
    new_store = lake.bucket is None and not lake.root.exists()
    before = len(lake.segments("events"))
    click.get_current_context().meta[INTERRUPTED_META] = lambda: (
        f"{len(lake.segments('events')) - before} segments kept, run again to finish"
    )
    with naming_damaged_segments(lake):
        result = import_paths(list(paths), env=env, store=lake, on_progress=_progress_printer())
    click.echo(result.summary_line())
    for line in result.detail_lines():
        click.echo(line)
    if result.stored == result.duplicates == 0 and result.other_envs:
        if new_store and not lake.segments("events") and not lake.segments("quarantine"):
            shutil.rmtree(lake.root)  # made by this import's lock alone: a typo leaves nothing
        envs = sorted(result.other_envs)
        raise AnalyzerError(
            f"nothing stored in env {env}: the entries carry env {', '.join(envs)}"
            f"{did_you_mean(env, envs)} (import them with that --env)"
        )


@main.command()
@env_option
@click.option(
    "--project",
    default=None,
    help="Google Cloud project whose logs to read. Default: $GOOGLE_CLOUD_PROJECT, else "
    "$CLOUDSDK_CORE_PROJECT, else gcloud's configured project (`gcloud config set project`).",
)
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
@click.option(
    "--request-timeout-s",
    type=click.FloatRange(min=0.1),
    default=120.0,
    show_default=True,
    help="Longest one request may take, answer read whole (then it is retried).",
)
@click.option(
    "--read-timeout-s",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Longest wait for the next bytes of an answer.",
)
@click.option(
    "--max-answer-size",
    default="100MiB",
    show_default=True,
    help="Largest answer one request may bring, inflated (a gzip answer that inflates to "
    "gigabytes stops the run, keeping what it stored).",
)
@click.option(
    "--max-run-s",
    type=click.FloatRange(min=0.0),
    default=3600.0,
    show_default=True,
    help="Longest the whole run may take; it then stops, keeping what it stored (run it "
    "again to resume).",
)
@lock_timeout_option
def collect(
    env: str,
    project: str | None,
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
    request_timeout_s: float,
    read_timeout_s: float,
    max_answer_size: str,
    max_run_s: float,
    lock_timeout_s: float | None,
) -> None:
    """Pull startup telemetry from Cloud Logging into the lake.

    Incremental: without --since a run resumes from the store's checkpoint for this env,
    project and filter (a few minutes of overlap, deduplicated by insertId). Quota-safe:
    paced on the client side, retried with backoff on 429, 5xx and broken connections; each
    request and the whole run are time-bounded. Entries are stored as they arrive and the
    checkpoint keeps the page to resume at, so an interrupted run loses nothing: run it
    again to resume.

    Example:

        analyze collect --env staging --project my-gcp --service netra-backend-staging --since 7d
    """
    from analyzer.ingest.cloud_logging import RequestLimits
    from analyzer.ingest.collect import CollectProgress, CollectRequest
    from analyzer.ingest.collect import collect as run_collect

    if project is None:
        from analyzer.ingest.default_project import default_project

        found = default_project()
        if found is None:
            raise click.UsageError(
                "give --project, or set GOOGLE_CLOUD_PROJECT (or `gcloud config set project`)"
            )
        project, where = found
        click.echo(f"project {project} (from {where})", err=True)
    answer_bytes = parse_bytes(max_answer_size)
    if answer_bytes < 1:
        raise click.BadParameter("must be at least 1 byte", param_hint="--max-answer-size")
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
        limits=RequestLimits(
            read_s=read_timeout_s,
            request_s=request_timeout_s,
            answer_bytes=answer_bytes,
        ),
        max_run_s=max_run_s,
    )

    def show(p: CollectProgress) -> None:
        click.echo(
            f"\rcollecting: {p.fetched:,} entries, {p.requests:,} requests, "
            f"{p.retries} retries, {p.entries_per_s:,.0f} entries/s, "
            f"{p.covered:5.1%} of the window",
            err=True,
            nl=p.covered >= 1.0,
        )

    lake = Store.resolve(store, lock_timeout_s=lock_timeout_s)
    result = run_collect(request, store=lake, on_progress=show if sys.stderr.isatty() else None)
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
@lock_timeout_option
def compact(env: str, store: str | None, min_segments: int, lock_timeout_s: float | None) -> None:
    """Rewrite each day's many small segments (left by frequent collect runs) as one.

    Every event is kept; queries read fewer files afterwards.

    Example:

        analyze compact --env staging
    """
    from analyzer.lake.compact import compact as run_compact

    lake = existing_store(store, lock_timeout_s=lock_timeout_s)
    result = run_compact(store=lake, env=env, min_segments=min_segments)
    click.echo(result.summary_line())
    for segment, why in sorted(result.refused.items()):
        click.secho(f"  refused {segment}: {why}", fg="red", err=True)
    if result.refused:
        raise AnalyzerError(
            f"{len(result.refused)} segment(s) refused; `analyze verify --fix` moves them aside"
        )


@main.command()
@store_option
@click.option(
    "--fix",
    is_flag=True,
    help="Move damaged segments aside to STORE/damaged/<time>/ (keeping their paths), so the "
    "rest of the lake reads again.",
)
@click.option(
    "--yes",
    is_flag=True,
    help="With --fix: also move suspect segments (only their checksum differs), and move "
    "more than half of the segments if that is what it takes.",
)
@lock_timeout_option
def verify(store: str | None, fix: bool, yes: bool, lock_timeout_s: float | None) -> None:
    """Check every segment of the lake, every byte, and name the damaged ones.

    Damaged: not a whole Parquet file (empty, truncated, overwritten), columns other than the
    lake's, values that cannot be read, or bytes that differ from the checksum recorded when
    the segment was written (bit rot) and a read fails too. A segment that reads whole while
    its checksum differs is suspect (the record may be what rotted), and so is a record that
    condemns every segment. Exits 1 when it finds one; with --fix it moves the damaged ones
    aside instead, and what they held is no longer read (import the source again to restore
    it). --fix moves suspects, or more than half of the segments, only with --yes.

    Example:

        analyze verify --fix
    """
    from analyzer.lake.verify import verify as run_verify

    lake = existing_store(store, lock_timeout_s=lock_timeout_s)
    result = run_verify(store=lake, fix=fix, yes=yes)
    for damage in result.damaged + result.suspect:
        what = "suspect" if damage.suspect else "damaged"
        click.echo(f"  {what} {lake.segment_key(damage.segment)}: {damage.reason}", err=True)
    click.echo(result.summary_line())
    if result.fix_refused:
        raise AnalyzerError(result.fix_refused)
    if result.damaged and not fix:
        raise AnalyzerError(f"{len(result.damaged)} damaged segment(s) in store {lake.location}")
    if result.suspect and not (fix and yes):
        raise AnalyzerError(
            f"{len(result.suspect)} suspect segment(s) in store {lake.location}, not moved: "
            "they read whole, so the checksum record may be what changed; "
            "`analyze verify --fix --yes` moves them aside"
        )


@main.command()
@env_option
@click.option(
    "--source",
    default=None,
    metavar="PATH",
    help="The file an import read, as it named it (or a folder: every file imported from it).",
)
@click.option(
    "--import",
    "import_id",
    default=None,
    metavar="ID",
    help="Instead: every file of one import, by the id its summary line gave (imports.jsonl).",
)
@store_option
@lock_timeout_option
def forget(
    env: str,
    source: str | None,
    import_id: str | None,
    store: str | None,
    lock_timeout_s: float | None,
) -> None:
    """Undo an import: take out of --env every event and quarantined entry that came from
    --source (or from the files of --import ID), so it can be imported again under the right
    --env.

    Segments holding such rows are rewritten without them (whole, as compact writes), and the
    forget is recorded in the store's forgotten.jsonl.

    Example:

        analyze forget --env production --source exports/staging-2026-11-30.jsonl
        analyze forget --env production --import 3f2a9c1d
    """
    from analyzer.lake.forget import forget as run_forget

    if (source is None) == (import_id is None):
        raise click.UsageError("give --source PATH or --import ID (one of them)")
    lake = existing_store(store, lock_timeout_s=lock_timeout_s)
    result = run_forget(store=lake, env=env, source=source, import_id=import_id)
    click.echo(result.summary_line())
