"""The services of a fleet: the services an env holds, and one window's attempts of an env, all
services or one picked out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from analyzer.analysis.window import no_attempts_error, resolve_window
from analyzer.engine import Engine
from analyzer.errors import AnalyzerError, TooManyServices, did_you_mean
from analyzer.runtime.schema import MAX_SERVICES
from analyzer.timewindow import Window

if TYPE_CHECKING:
    import polars as pl


def service_frame(
    engine: Engine,
    question: str,
    *,
    env: str,
    service: str | None,
    since: str,
    until: str | None,
) -> tuple[pl.DataFrame, list[str], Window]:
    """`question`'s rows for the window ($env, $start, $end), sorted on every column, of
    `service` or of every one;
    the services they hold; the window. No rows, or an unknown service (the error lists the
    services found), is an error."""
    import polars as pl

    start, end = resolve_window(engine, env, since=since, until=until)
    frame = engine.frame(question, {"env": env, "start": start, "end": end})
    # one fixed order, whatever order the engine returns the rows in: sums over them then
    # come out the same to the last bit
    frame = frame.sort(frame.columns, nulls_last=True)
    if frame.is_empty():
        raise no_attempts_error(engine, env, start, end)
    found = sorted(set(frame["service"].to_list()))
    window = Window(start=start, end=end)
    if service is None:
        return frame, found, window
    if service not in found:
        span = f"between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC"
        raise unknown_service_error(service, f"env {env!r} {span}", found)
    return frame.filter(pl.col("service") == service), [service], window


def check_service_count(env: str, count: int, named: Sequence[str] = ()) -> None:
    """Refuse per-service work over every service of an env that holds more than
    `MAX_SERVICES` (each would get a section no config can carry), unless `named`."""
    if count > MAX_SERVICES and not named:
        raise TooManyServices(f"env {env!r} holds", count, MAX_SERVICES)


def unknown_service_error(service: str, where: str, found: Sequence[str]) -> AnalyzerError:
    return AnalyzerError(
        f"no service {service!r} in {where}{did_you_mean(service, found)}; "
        f"services found: {', '.join(found)}"
    )


def service_rows(engine: Engine, env: str, services: Sequence[str] = ()) -> list[dict[str, object]]:
    """The env's services with how their startups ended (`service_startups`), by name; only
    `services` when given. An env with no startups is no data; a service it does not hold is
    an error that lists the ones it does."""
    rows = engine.rows("service_startups", {"env": env})
    if not rows:
        raise engine.no_data_error(env)
    found = [str(r["service"]) for r in rows]
    for service in services:
        if service not in found:
            raise unknown_service_error(service, f"env {env!r} ({engine.where})", found)
    return [r for r in rows if not services or r["service"] in services]


def check_services(engine: Engine, env: str, services: Sequence[str]) -> None:
    """Before per-service work: the `services` named are the env's (the error lists those it
    holds); with none named, the env holds no more than a config carries
    (`check_service_count`)."""
    rows = service_rows(engine, env, services)
    if not services:
        check_service_count(env, len(rows))
