"""The `analyze` group: its error handling, the options every command shares, output formats."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from analyzer.errors import AnalyzerError

if TYPE_CHECKING:  # imported where used: `analyze import` starts without pydantic or numpy
    from pydantic import BaseModel


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


def render_model(model: BaseModel, fmt: str, as_table: Any) -> str:
    """One pydantic model as json, yaml, or the given table formatter."""
    if fmt == "json":
        return model.model_dump_json(indent=2)
    if fmt == "yaml":
        import yaml

        return str(yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False))
    return str(as_table(model))
