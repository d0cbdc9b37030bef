"""`report`: the HTML page."""

from __future__ import annotations

from pathlib import Path

import click

from analyzer.cli.main import (
    command_engine,
    engine_options,
    env_option,
    existing_store,
    main,
    services_option,
    store_option,
)


@main.command()
@env_option
@store_option
@engine_options
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="HTML file to write.")
@click.option(
    "--since", default="28d", show_default=True, help="Window start: 28d, 2w or ISO-8601."
)
@click.option(
    "--run", "run_id", default=None, help="Saved run to show. Default: the latest saved run."
)
@services_option
def report(
    env: str, store: str | None, out: str, since: str, run_id: str | None, services: tuple[str, ...]
) -> None:
    """Write one self-contained HTML report: charts and the recommendation's evidence.

    Phase-3 survival curves per VPC state with the current and recommended timeouts, the
    success rate against the timeout, a timeline of VPC states and failures, and the
    recommendation table; then the same curves and the backtest per service, and the
    regressions by revision. It opens with no network.

    Example:

        analyze report --env staging --out report.html
        analyze report --env staging --out auth.html --service netra-auth-staging
    """
    from analyzer.analysis.fleet import check_services
    from analyzer.deploy.export import unfit_sections
    from analyzer.recommend.history import describe_run
    from analyzer.report import write_report
    from analyzer.report.page import report_run
    from analyzer.runtime.schema import shown

    lake = existing_store(store)
    engine = command_engine(lake)
    check_services(engine, env, services)  # before any work
    run, saved = report_run(
        engine=engine, store=lake, env=env, since=since, run_id=run_id, services=services
    )
    click.echo(f"showing {describe_run(run)}" + ("" if saved else ", not saved"), err=True)
    path = write_report(
        engine=engine, store=lake, env=env, out=Path(out), since=since, run=run, services=services
    )
    unfit = unfit_sections(run)
    if unfit:
        names = ", ".join(shown(name) for name in list(unfit)[:5])
        more = f" and {len(unfit) - 5} more" if len(unfit) > 5 else ""
        click.echo(
            f"{len(unfit)} service(s) cannot have a config section, shown on the env "
            f"default: {names}{more}",
            err=True,
        )
    click.echo(f"wrote {path}")
