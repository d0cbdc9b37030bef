"""`config show`: the settings each command takes from flags, the environment, the project
file or its built-in defaults, and where each came from."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource

from analyzer.cli.main import ENV_HELP, engine_settings, format_option, main, project_file_for

if TYPE_CHECKING:  # imported where used: the file's models need pydantic, other commands not
    from analyzer.cli.project import Setting


@main.group()
def config() -> None:
    """The project file's settings, as the commands see them.

    Example:

        analyze config show --env staging
    """


@config.command(
    name="show", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.option("--env", default=None, help=ENV_HELP + " Default: the file's [defaults] only.")
@click.option(
    "--store",
    default=None,
    help="As the commands' --store (shown as a flag). Default: theirs ($ANALYZER_STORE, the "
    "project file's, else ./data/lake).",
)
@format_option("table", "json", "csv")
@click.argument("command_line", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def show(
    ctx: click.Context, env: str | None, store: str | None, fmt: str, command_line: tuple[str, ...]
) -> None:
    """Print each setting, its value and where it came from (flag, environment variable,
    project file, built-in default). After the options, a command line shows what that
    command would use, flags included.

    Example:

        analyze config show --env staging
        analyze config show --env staging --store gs://my-bucket/lake
        analyze config show recommend --env staging --margin 0.3
    """
    from analyzer.cli.render import table
    from analyzer.cli.render_csv import csv_text

    if ctx.get_parameter_source("store") is not ParameterSource.COMMANDLINE:
        store = None  # the commands shown resolve their own (file, environment, default)
    rows = settings_in_force(ctx, env, list(command_line), store=store)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    elif fmt == "csv":
        click.echo(csv_text(rows))
    else:
        project = project_file_for(ctx)
        head = f"project file: {project.path}" if project else "project file: none found"
        headers = ["setting", "value", "source", "used by"]
        body = [[r["setting"], _shown(r["value"]), r["source"], r["used_by"]] for r in rows]
        click.echo(head + "\n\n" + table(headers, body))


def settings_in_force(
    ctx: click.Context, env: str | None, command_line: list[str], *, store: str | None = None
) -> list[dict[str, object]]:
    """One row per setting: resolved by click exactly as the command would resolve it; `env`
    and `store` as that command line's --env and --store where it gives none."""
    from analyzer.cli.project import SETTINGS

    if command_line:
        name, args = command_line[0], command_line[1:]
        if name not in main.commands:
            raise click.UsageError(f"no command {name!r}; see `analyze --help`")
        wanted = [name]
    else:
        args = []
        wanted = sorted(main.commands)
    for flag, given in (("--env", env), ("--store", store)):
        if given and not any(a == flag or a.startswith(flag + "=") for a in args):
            args = [*args, flag, given]
    project = project_file_for(ctx)
    rows: list[dict[str, object]] = []
    for setting in SETTINGS:
        users = [c for c in wanted if _takes(setting, c)]
        if not users:
            continue
        command = main.commands[users[0]]
        sub = command.make_context(
            users[0], list(args), parent=ctx.find_root(), resilient_parsing=True
        )
        value = sub.params.get(setting.param, engine_settings(sub).get(setting.param))
        source = sub.get_parameter_source(setting.param)
        if source is ParameterSource.COMMANDLINE:
            origin = "flag"
        elif source is ParameterSource.ENVIRONMENT:
            param = next(p for p in command.params if p.name == setting.param)
            origin = f"environment variable {getattr(param, 'envvar', '')}"
        elif source is ParameterSource.DEFAULT_MAP and project is not None:
            found = project.settings_for(sub.params.get("env") or env)[setting.key]
            origin = f"{project.path} [{found.table}]"
        else:
            origin = "built-in default"
            value = value if value is not None else _built_in(setting)
        flag = setting.flag
        rows.append(
            {
                "setting": setting.key,
                "value": value,
                "source": origin,
                "used_by": f"{flag} of " + ", ".join(users),
            }
        )
    return rows


def _takes(setting: Setting, command: str) -> bool:
    from analyzer.cli.project import NOT_FROM_THE_FILE

    if command in NOT_FROM_THE_FILE or command not in main.commands:
        return False
    if setting.commands is not None and command not in setting.commands:
        return False
    return any(p.name == setting.param for p in main.commands[command].params)


def _built_in(setting: Setting) -> object:
    """The value a command uses when its option is left empty (the policy's own defaults)."""
    from analyzer.recommend.policy import Policy

    names = {"floor_s": "floor_s", "max_false_trips": "max_false_trips_per_week"}
    field = Policy.model_fields.get(names.get(setting.param, setting.param))
    if setting.key.startswith("policy.") and field is not None:
        return field.default
    if setting.param == "store":
        return "./data/lake"
    return None


def _shown(value: object) -> str:
    if isinstance(value, tuple | list):  # a repeatable option's values
        value = ", ".join(str(v) for v in value) or None
    return "-" if value is None else str(value)
