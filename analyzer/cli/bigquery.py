"""`bigquery materialize`: the materialised table of an env's telemetry events in BigQuery, and
the scheduled query that keeps it current."""

from __future__ import annotations

from typing import Any

import click

from analyzer.cli.main import _ENGINE_OPTIONS, ENV_HELP, INTERRUPTED_META, main, parse_bytes

# The BigQuery options of the other commands that apply here (their help and defaults).
_SHARED = {"--source", "--source-services", "--max-bytes-billed", "--job-timeout", "--location"}
_SHARED |= {"--billing-project", "--bq-endpoint", "--anonymous"}


# Their help where it says more here than the other commands' (which read with --engine)
_OWN_HELP = {
    "--source": "The raw logs read: a Log Router sink table, or _AllLogs of a Log Analytics "
    "linked dataset (PROJECT.DATASET.TABLE). Default: $ANALYZER_BQ_SOURCE.",
    "--source-services": "A --source holding several envs: the --env's services "
    "(comma-separated). Their entries that name no env (text lines) are the --env's; other "
    "services' are not. Without it, such a source is refused.",
    "--location": "The BigQuery location of the jobs (e.g. EU, us-central1). Default: the "
    "tables'; the scheduled query's bq line names the source dataset's.",
}


def _source_options(func: Any) -> Any:
    for decls, attrs in reversed(_ENGINE_OPTIONS):
        if decls[0] in _SHARED:
            own = {"help": _OWN_HELP[decls[0]]} if decls[0] in _OWN_HELP else {}
            func = click.option(*decls, **{**attrs, **own})(func)
    return func


@main.group(name="bigquery")
def bigquery_group() -> None:
    """BigQuery's own commands: the materialised table that makes `--engine bigquery` cheap.

    Example:

        analyze bigquery materialize --env production --dest my-project.analyzer.events
    """


@bigquery_group.command()
@click.option(
    "--env",
    required=True,
    help=ENV_HELP + " Several comma-separated: materialised together, each raw day read once "
    "for them all (every entry must then name its env).",
)
@click.option(
    "--dest",
    required=True,
    help="The materialised table (PROJECT.DATASET.TABLE), made if missing: the lake's "
    "columns, partitioned by DATE(ts), clustered by env, service.",
)
@click.option(
    "--since",
    default=None,
    help="First day to read (35d, or ISO-8601; whole UTC days). Default: the day after the "
    "last day --dest holds for the env, else 35 days back. Give it to read held days again "
    "for entries delivered late: only the rows --dest lacks are added.",
)
@click.option(
    "--print-scheduled-query",
    is_flag=True,
    help="Print the daily scheduled query (a MERGE of yesterday, UTC) that keeps --dest "
    "current, and its `bq mk` line on stderr; nothing runs.",
)
@_source_options
def materialize(
    env: str, dest: str, since: str | None, print_scheduled_query: bool, **options: Any
) -> None:
    """Add an env's telemetry events, in the lake's columns, to a BigQuery table: the whole
    UTC days it lacks, up to the last midnight 3 hours ago or more (time for late deliveries),
    read once from the raw --source ($ANALYZER_BQ_SOURCE) in one MERGE (a rerun adds nothing;
    an entry delivered twice is added once). Every command's `--engine bigquery --source
    DEST` then reads that table: a 28-day recommend is one small query.

    Example:

        analyze bigquery materialize --env production --dest my-project.analyzer.events
        analyze bigquery materialize --env staging,production --dest my-project.analyzer.events
        analyze bigquery materialize --env qa --dest my-proj.analyzer.events --print-scheduled-query
    """
    from datetime import UTC, datetime

    from analyzer.engine.materialize import envs_asked, materialize, open_source, scheduled_query
    from analyzer.timewindow import parse_span, window_start

    envs = envs_asked(env)
    engine = open_source(
        source=options["source"],
        envs=envs,
        max_bytes_billed=parse_bytes(options["max_bytes_billed"]),
        job_timeout=parse_span(options["job_timeout"]),
        services=options["source_services"],
        endpoint=options["endpoint"],
        anonymous=options["anonymous"],
        billing_project=options["billing_project"],
        location=options["location"],
    )
    if print_scheduled_query:
        scheduled = scheduled_query(engine, dest=dest, envs=envs)
        click.echo(scheduled.sql)
        click.echo(f"save it as {scheduled.file}, then: {scheduled.bq_command}", err=True)
        return
    start = window_start(since, datetime.now(UTC)) if since else None
    click.get_current_context().meta[INTERRUPTED_META] = lambda: (
        f"{dest} gets its days whole or not at all (one MERGE); a MERGE BigQuery was "
        "finishing may still end (bq show -j the job named above) before you run again"
    )
    done = materialize(engine, dest=dest, envs=envs, since=start)
    days = f"{done.first_day} to {done.last_day}" if done.first_day else "no new day"
    click.echo(f"{','.join(done.envs)}: {done.rows_added:,} rows added to {dest} ({days})")
