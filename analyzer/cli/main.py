"""The `analyze` group: its error handling, the options every command shares, output formats."""

from __future__ import annotations

import errno
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import is_dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from analyzer.errors import AnalyzerError, NoDataError, printable
from analyzer.lake.store import STORE_ENV_VAR

if TYPE_CHECKING:  # imported where used: `analyze import` starts without pydantic or numpy
    from _typeshed import DataclassInstance
    from pydantic import BaseModel

    from analyzer.cli.project import ProjectFile
    from analyzer.engine import AttemptRows, Engine
    from analyzer.lake.store import Store


ENV_HELP = "Deployment environment, e.g. staging or production."
STORE_HELP = (
    "Lake folder, or gs://BUCKET/PREFIX. "
    "Default: $ANALYZER_STORE, else the project file's, else ./data/lake."
)
# Exit codes: 0 done; 1 a problem with the input, the store or the environment (one red line);
# 2 a usage error (click's); 3 no data for what was asked; 70 an internal error (EX_SOFTWARE);
# 130 interrupted (Ctrl-C).
EXIT_INTERNAL_ERROR = 70
# What the system answers when a path or a device refuses (errno): said as one line, exit 1.
SYSTEM_REFUSALS = frozenset(
    {
        errno.ENOENT,
        errno.ENOTDIR,
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.ENOSPC,
        errno.EDQUOT,
        errno.ENAMETOOLONG,
    }
)
PROJECT_FILE_NAME = "analyzer.toml"
PROJECT_FILE_ENV_VAR = "ANALYZER_PROJECT_FILE"


def project_file_for(ctx: click.Context) -> ProjectFile | None:
    """The project file for this run (`--project-file`, $ANALYZER_PROJECT_FILE, else the
    nearest analyzer.toml upward from the current folder), loaded once."""
    root = ctx.find_root()
    if "analyzer.project" not in root.meta:
        given = root.params.get("project_file")
        path = Path(given) if given else find_project_file(Path.cwd())
        if path is None:
            root.meta["analyzer.project"] = None
        else:  # its models need pydantic: imported only where there is a file
            from analyzer.cli.project import load_project_file

            root.meta["analyzer.project"] = load_project_file(path)
    found: ProjectFile | None = root.meta["analyzer.project"]
    return found


def keep_example_breaks(text: str | None) -> str | None:
    """The paragraph after `Example:` as written: click rewraps a paragraph unless it opens
    with its no-rewrap marker (`\\b` alone on a line)."""
    if text is None:
        return None
    return re.sub(
        r"^([ \t]*)(Example:\n[ \t]*\n)(?![ \t]*\x08)", "\\1\\2\\1\x08\n", text, flags=re.M
    )


def without_project_file(ctx: click.Context) -> None:
    """The rest of this run takes no defaults from a project file (`demo` runs as shipped)."""
    ctx.find_root().meta["analyzer.project"] = None


def find_project_file(start: Path) -> Path | None:
    """`analyzer.toml` in `start` or the nearest folder above it. Whatever is there by that
    name ends the search (a folder, a FIFO, a broken link): reading it then says what is wrong,
    rather than a parent folder's file and its store being used in silence."""
    for folder in (start, *start.parents):
        candidate = folder / PROJECT_FILE_NAME
        if os.path.lexists(candidate):
            return candidate
    return None


class ProjectCommand(click.Command):
    """A command whose option defaults come from the project file, for its --env."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = keep_example_breaks(self.help)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            project = project_file_for(ctx)
        except AnalyzerError:
            if not ctx.resilient_parsing:  # shell completion carries on without the file
                raise
            project = None
        if project is not None:
            defaults = project.command_defaults(self.name or "", _env_given(self, ctx, args))
            ctx.default_map = {**(ctx.default_map or {}), **defaults}
        rest = super().parse_args(ctx, args)
        _names_in_lower_case(ctx.params)
        _check_times(ctx)
        return rest


def _check_times(ctx: click.Context) -> None:
    """Spans and times are checked before any work: a bad one is a usage error (exit 2)."""
    from datetime import UTC, datetime

    from analyzer.timewindow import parse_instant, parse_span, window_start

    checks: dict[str, Callable[[str], object]] = {
        "since": lambda text: window_start(text, datetime.now(UTC)),
        "until": parse_instant,
        "half_life": parse_span,
        "lookback": parse_span,
    }
    given = {**ctx.params, **ctx.meta.get(_ENGINE_META, {})}
    for name, check in checks.items():
        value = given.get(name)
        if isinstance(value, str):
            try:
                check(value)
            except AnalyzerError as exc:
                hint = f"--{name.replace('_', '-')}"
                raise click.BadParameter(str(exc), ctx=ctx, param_hint=hint) from None


def _names_in_lower_case(params: dict[str, Any]) -> None:
    """Envs and services are matched whatever their case, as the runtime matches them
    (`--env Staging` is staging; Cloud Run service names are lower case)."""
    for name in ("env", "service", "services"):
        value = params.get(name)
        if isinstance(value, str):
            params[name] = value.strip().lower()
        elif isinstance(value, tuple | list):
            params[name] = type(value)(
                v.strip().lower() if isinstance(v, str) else v for v in value
            )


def _env_given(command: click.Command, ctx: click.Context, args: Sequence[str]) -> str | None:
    """The --env on the command line, read ahead so the file's [env.ENV] tables can apply."""
    try:
        opts, _, _ = command.make_parser(ctx).parse_args(args=list(args))
    except click.UsageError:
        return None  # the real parse says what is wrong
    env = opts.get("env")
    return env.strip().lower() if isinstance(env, str) else None


class AnalyzerGroup(click.Group):
    """Turns library errors into one red line and an exit code, never a traceback."""

    command_class = ProjectCommand
    group_class = type  # sub-groups are AnalyzerGroups too

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = keep_example_breaks(self.help)

    def invoke(self, ctx: click.Context) -> Any:
        if os.environ.get("NO_COLOR"):  # https://no-color.org: any non-empty value
            ctx.color = False
        try:
            try:
                return super().invoke(ctx)
            finally:
                _close_bucket_lakes()
        except AnalyzerError as exc:
            if ctx.meta.get("debug"):
                raise
            click.secho(f"error: {printable(str(exc))}", fg="red", err=True)
            sys.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            _interrupted(ctx)
        except Exception as exc:
            if _is_interrupt(exc):
                _interrupted(ctx)
            if ctx.meta.get("debug"):
                raise
            if isinstance(exc, OSError) and exc.errno in SYSTEM_REFUSALS:
                # the system refused a file or a stream (a folder that cannot be written, a
                # full disk): the user's to fix, said in one line, as for bad input
                what = f"{exc.filename}: " if exc.filename else ""
                click.secho(f"error: {printable(what + str(exc.strerror))}", fg="red", err=True)
                sys.exit(1)
            click.secho(
                f"internal error: {type(exc).__name__}: {printable(str(exc))} (rerun with --debug "
                "for details)",
                fg="red",
                err=True,
            )
            sys.exit(EXIT_INTERNAL_ERROR)


INTERRUPTED_META = "analyzer.interrupted"
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C


def _is_interrupt(exc: Exception) -> bool:
    """Ctrl-C as DuckDB reports it when it lands inside a query."""
    duckdb = sys.modules.get("duckdb")
    if duckdb is not None and isinstance(exc, duckdb.InterruptException):
        return True
    return isinstance(exc, RuntimeError) and str(exc) == "Query interrupted"


def _interrupted(ctx: click.Context) -> NoReturn:
    """Ctrl-C: one line saying what was kept (a command that writes says, through
    `ctx.meta[INTERRUPTED_META]`), exit 130, never a traceback."""
    kept: Callable[[], str] | None = ctx.meta.get(INTERRUPTED_META)
    click.secho("interrupted" + (f"; {kept()}" if kept else ""), fg="red", err=True)
    sys.exit(EXIT_INTERRUPTED)


def _close_bucket_lakes() -> None:
    """A gs:// store's last files pushed and its working copy removed (its module is loaded
    only when such a store was opened)."""
    gcs = sys.modules.get("analyzer.lake.gcs")
    if gcs is not None:
        gcs.close_bucket_lakes()


@click.group(cls=AnalyzerGroup)
@click.version_option(package_name="analyzer", prog_name="analyze")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@click.option(
    "--project-file",
    type=click.Path(dir_okay=False),
    envvar=PROJECT_FILE_ENV_VAR,
    help="Project file of per-env defaults. Default: the nearest analyzer.toml upward.",
)
@click.pass_context
def main(ctx: click.Context, debug: bool, project_file: str | None) -> None:
    """Startup telemetry analyzer: evidence-based phase timeouts for Cloud Run services.

    The weekly workflow: fill the lake (`import` or `collect`), look at it (`summary`),
    then get timeouts (`recommend`). `analyze demo` walks through it on bundled data.
    Options missing from the command line come from the project file (`analyze config
    show`). Exit codes: 0 done, 1 bad input or store, 2 usage error, 3 no data, 70 internal
    error, 130 interrupted.

    Example:

        analyze demo
        analyze recommend --env staging --format json
    """
    ctx.meta["debug"] = debug
    project_file_for(ctx)  # a bad project file stops every command, in one line


F = TypeVar("F", bound=Callable[..., Any])


def store_option(func: F) -> F:
    return click.option(
        "--store", type=click.Path(file_okay=False), envvar=STORE_ENV_VAR, help=STORE_HELP
    )(func)


def env_option(func: F) -> F:
    return click.option("--env", required=True, help=ENV_HELP)(func)


def services_option(func: F) -> F:
    """--service NAME, repeatable: only these services (by default each service on its own)."""
    return click.option(
        "--service",
        "services",
        multiple=True,
        metavar="NAME",
        help="Only this service (its Cloud Run name); repeat for several. Default: every "
        "service, each on its own.",
    )(func)


def format_option(*choices: str) -> Callable[[F], F]:
    return click.option(
        "--format", "fmt", type=click.Choice(choices), default=choices[0], show_default=True
    )


def render_model(
    model: BaseModel | DataclassInstance, fmt: str, as_table: Any, *, csv_rows: Sequence[str] = ()
) -> str:
    """One pydantic model (or dataclass record, see `render.plain`) as json, yaml, csv or the
    given table formatter.

    CSV rows are the records of the fields named in `csv_rows`, each led by the model's env: a
    list of records, or one record whose first missing column is labelled with the field's
    name (`overall` in the vpc_state column).
    """
    from analyzer.cli.render import json_text, plain

    if fmt == "json":
        return json_text(plain(model)) if is_dataclass(model) else model.model_dump_json(indent=2)
    data: Any = plain(model) if is_dataclass(model) else model.model_dump(mode="json")
    if fmt == "yaml":
        import yaml

        return str(yaml.safe_dump(data, sort_keys=False))
    if fmt == "csv":
        from analyzer.cli.render_csv import csv_text

        lead = {"env": data["env"]} if "env" in data else {}
        records: list[dict[str, Any]] = []
        for name in csv_rows:
            part = data[name]
            if isinstance(part, list):
                records.extend({**lead, **r} for r in part)
            else:
                last = records[-1] if records else {}
                missing = [k for k in last if k not in part and k not in lead]
                records.append({**lead, **part, **dict.fromkeys(missing[:1], name)})
        return csv_text(records)
    return str(as_table(model))


_ENGINE_META = "analyzer.engine_options"
_BYTE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_BYTE_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_ENGINE_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (
        ("--engine",),
        {
            "type": click.Choice(["local", "bigquery"]),
            "default": "local",
            "show_default": True,
            "help": "Where the telemetry is read: the local lake, or BigQuery (--source).",
        },
    ),
    (
        ("--source",),
        {
            "envvar": "ANALYZER_BQ_SOURCE",
            "help": "With --engine bigquery: a Log Router sink table, or _AllLogs of a Log "
            "Analytics linked dataset (PROJECT.DATASET.TABLE). Default: $ANALYZER_BQ_SOURCE.",
        },
    ),
    (
        ("--source-shape",),
        {
            "type": click.Choice(["sink", "log-analytics", "lake"]),
            "default": None,
            "help": "The --source table's shape: a Log Router sink, Log Analytics' _AllLogs, "
            "or a table of the lake's columns (analyze bigquery materialize). Default: read "
            "from its schema.",
        },
    ),
    (
        ("--source-services",),
        {
            "default": None,
            "help": "With --engine bigquery, a --source holding several envs: the --env's "
            "services (comma-separated). Their entries that name no env (text lines) are "
            "the --env's; other services' are not. Without it, such a source is refused.",
        },
    ),
    (
        ("--max-bytes-billed",),
        {
            "default": "256GiB",
            "show_default": True,
            "help": "The bytes one run may bill in BigQuery, all its queries together: each "
            "is dry-run first and refused if it would pass what is left; each job prints "
            "what it billed. The default fits a weekly 28-day recommend at 100 million "
            "entries a week (its two queries read 141-200 GiB).",
        },
    ),
    (
        ("--job-timeout",),
        {
            "default": "10m",
            "show_default": True,
            "help": "How long one BigQuery job may run before it is cancelled.",
        },
    ),
    (
        ("--location",),
        {"default": None, "help": "The BigQuery location of the jobs (e.g. EU, us-central1)."},
    ),
    (
        ("--billing-project",),
        {
            "default": None,
            "help": "The project the BigQuery jobs run in and bill to. Default: --source's.",
        },
    ),
    (
        ("--lookback",),
        {
            "default": "8d",
            "show_default": True,
            "help": "How far back BigQuery reads for a question with no window of its own.",
        },
    ),
    (
        ("--attempt-rows",),
        {
            "type": click.Choice(["auto", "rows", "counts"]),
            "default": "auto",
            "show_default": True,
            "help": "How the window's attempts are fetched: one row each, or counted per "
            "distinct duration and day (fewer rows where durations repeat; the same "
            "estimates). auto: counts past 5 million attempts.",
        },
    ),
    (
        ("--bq-endpoint", "endpoint"),
        {"default": None, "help": "BigQuery API endpoint (an emulator, a private endpoint)."},
    ),
    (("--anonymous",), {"is_flag": True, "help": "No credentials (an emulator on 127.0.0.1)."}),
]


def parse_bytes(text: str) -> int:
    """`10GiB`, `500MB`, `2TiB` or a plain number of bytes."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*", text, re.IGNORECASE)
    if not match:
        raise AnalyzerError(f"invalid size {text!r}: use bytes or a size like 10GiB or 500MB")
    return int(float(match.group(1)) * _BYTE_UNITS[(match.group(2) or "").lower()])


def engine_options(func: F) -> F:
    """--engine and the BigQuery source options, kept for `command_engine`."""

    def keep(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        ctx.meta.setdefault(_ENGINE_META, {})[param.name] = value
        return value

    for decls, attrs in reversed(_ENGINE_OPTIONS):
        func = click.option(*decls, callback=keep, expose_value=False, **attrs)(func)
    return func


def engine_settings(ctx: click.Context) -> dict[str, Any]:
    """The values of `engine_options` as the command's parse resolved them (flag, environment,
    project file or default), by parameter name: they are not passed to the command."""
    return dict(ctx.meta.get(_ENGINE_META, {}))


def existing_store(store: str | None, *, lock_timeout_s: float | None = None) -> Store:
    """The store a command reads: `--store` resolved as `Store.resolve` does, which must exist
    (a mistyped path is an error, never an empty lake, and nothing is made there). Only
    `import` and `collect` start a store; a command on BigQuery needs none to read."""
    from analyzer.lake.store import Store

    lake = Store.resolve(store, lock_timeout_s=lock_timeout_s)
    # a bucket's prefix with no object under it is no store either
    missing = not lake.bucket.listed if lake.bucket else not lake.root.is_dir()
    if missing:
        if engine_settings(click.get_current_context()).get("engine") == "bigquery":
            return lake
        raise NoDataError(
            f"no store at {lake.location}: check --store (or $ANALYZER_STORE); "
            "`analyze import` or `analyze collect` makes one"
        )
    return lake


def _job_labels() -> dict[str, str]:
    """The running command and its --env, for the BigQuery jobs' labels."""
    ctx = click.get_current_context()
    labels = {"command": ctx.command.name or ctx.info_name or "analyze"}
    if isinstance(ctx.params.get("env"), str):
        labels["env"] = ctx.params["env"]
    return labels


def _command_window(lookback: timedelta) -> tuple[datetime, datetime] | None:
    """What the running command's window (--since, --until) may cover, when it has one that
    parses: without --until it ends at the env's last event, which is within `lookback` of
    now. What its questions will read beside --lookback."""
    from analyzer.timewindow import parse_instant, window_start

    params = click.get_current_context().params
    since, until = params.get("since"), params.get("until")
    if not isinstance(since, str):
        return None
    try:
        if isinstance(until, str):
            end = parse_instant(until)
            return window_start(since, end), end
        now = datetime.now(UTC)
        return window_start(since, now - lookback), now
    except AnalyzerError:
        return None  # the command says what is wrong with it


def command_engine(store: Store) -> Engine:
    """The engine the running command's `engine_options` asked for, over `store` if local."""
    from analyzer.engine import open_engine
    from analyzer.timewindow import parse_span

    chosen = engine_settings(click.get_current_context())
    attempt_rows: AttemptRows = chosen.get("attempt_rows") or "auto"
    if chosen.get("engine", "local") == "local":
        return open_engine(store=store, attempt_rows=attempt_rows)
    return open_engine(
        store=store,
        engine="bigquery",
        source=chosen["source"],
        source_shape=chosen["source_shape"],
        max_bytes_billed=parse_bytes(chosen["max_bytes_billed"]),
        lookback=parse_span(chosen["lookback"]),
        endpoint=chosen.get("endpoint"),
        anonymous=bool(chosen.get("anonymous")),
        attempt_rows=attempt_rows,
        billing_project=chosen.get("billing_project"),
        location=chosen.get("location"),
        job_timeout=parse_span(chosen.get("job_timeout") or "10m"),
        labels=_job_labels(),
        window=_command_window(parse_span(chosen["lookback"])),
        source_services=tuple(
            name.strip()
            for name in (chosen.get("source_services") or "").split(",")
            if name.strip()
        ),
    )
