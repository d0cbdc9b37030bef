"""The services of a fleet: one window's attempts of an env, all services or one picked out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from analyzer.analysis.attempts import no_attempts_error, resolve_window
from analyzer.engine import Engine
from analyzer.errors import AnalyzerError
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
        raise AnalyzerError(
            f"no service {service!r} in env {env!r} between {start:%Y-%m-%d %H:%M} and "
            f"{end:%Y-%m-%d %H:%M} UTC; services found: {', '.join(found)}"
        )
    return frame.filter(pl.col("service") == service), [service], window
