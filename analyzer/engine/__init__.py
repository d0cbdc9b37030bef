"""The seam between the questions the analysis asks and where they are answered.

Above it, modules ask for relations by name (`queries/<name>.sql`: `env_time_range`,
`env_overview`, `phase_outcome_counts`, `backtest_attempts`, `report_timeline`, the window's
attempts) with bound parameters, and never learn which engine answered: the local lake
(DuckDB over Parquet, `engine/local.py`) or BigQuery (GoogleSQL of `queries/bigquery/` over a Log
Router sink table, Log Analytics' `_AllLogs` or a table of the lake's columns: the rows fetched
once a run and answered by the same queries, `engine/bigquery.py`). `open_engine` picks one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from analyzer.errors import AnalyzerError

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

    from analyzer.errors import NoDataError
    from analyzer.lake.store import Store


class Engine(Protocol):
    """What the analysis needs of wherever the events are."""

    @property
    def where(self) -> str:
        """Where the answers come from, for messages (e.g. `store data/lake`)."""
        ...

    def no_data_error(self, env: str) -> NoDataError:
        """The error for an env with no telemetry here, saying how to fill it."""
        ...

    def rows(
        self, question: str, params: Mapping[str, object] | None = None
    ) -> list[dict[str, object]]:
        """A question's rows as dicts keyed by column name."""
        ...

    def frame(self, question: str, params: Mapping[str, object] | None = None) -> pl.DataFrame:
        """A question's rows as a polars frame, timestamps in UTC."""
        ...

    def attempt_columns(
        self, params: Mapping[str, object]
    ) -> tuple[list[tuple[Any, ...]], dict[str, np.ndarray]]:
        """The window's phase attempts ($env, $start, $end): group keys (gid, service,
        phase, operation, vpc_state, attempts) and numeric columns keyed by gid."""
        ...

    @property
    def attempt_rows(self) -> AttemptRows:
        """How the window's attempts are fetched: one row each, counts per distinct duration,
        or (`auto`) counts past AUTO_COUNTS_PAST attempts."""
        ...

    def attempt_counts(
        self, params: Mapping[str, object]
    ) -> tuple[list[tuple[Any, ...]], dict[str, np.ndarray]]:
        """The window's attempts counted per distinct duration (attempt_counts.sql): the group
        keys of `attempt_columns` and columns gid, day_s, duration_s, observed, timeout_s,
        counted, last_started_s, last_ended_s."""
        ...

    def attempt_total(self, params: Mapping[str, object]) -> int:
        """About how many attempts the window holds, found cheaply (for `auto`)."""
        ...


def local_engine(store: Store, *, attempt_rows: AttemptRows = "auto") -> Engine:
    """The engine over a local lake."""
    from analyzer.engine.local import LocalEngine

    return LocalEngine(store, attempt_rows=attempt_rows)


EngineName = Literal["local", "bigquery"]
AttemptRows = Literal["rows", "counts", "auto"]
# `auto` fetches counts per distinct duration past this many attempts in the window: one row an
# attempt is some 40 bytes on the wire and in memory; counts are fewer rows where durations repeat.
AUTO_COUNTS_PAST = 5_000_000


def open_engine(
    *,
    store: Store,
    engine: EngineName = "local",
    source: str | None = None,
    source_shape: str | None = None,
    max_bytes_billed: int | None = None,
    lookback: timedelta | None = None,
    endpoint: str | None = None,
    anonymous: bool = False,
    attempt_rows: AttemptRows = "auto",
    source_services: tuple[str, ...] = (),
    billing_project: str | None = None,
    location: str | None = None,
    job_timeout: timedelta | None = None,
    labels: dict[str, str] | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> Engine:
    """The engine a command asked for: the local lake in `store`, or BigQuery over `source`
    (PROJECT.DATASET.TABLE; its shape, sink, Log Analytics or the lake's columns, detected
    unless given). `window`: the command's window, when known: BigQuery fetches it and the
    --lookback whole up front where that is cheap (shape lake)."""
    if engine == "local":
        return local_engine(store, attempt_rows=attempt_rows)
    if not source:
        raise AnalyzerError(
            "--engine bigquery needs --source PROJECT.DATASET.TABLE "
            "(a Log Router sink table, or _AllLogs of a Log Analytics linked dataset)"
        )
    _require_bigquery_extra()
    from analyzer.engine import bigquery

    return bigquery.open_bigquery(
        source=source,
        shape=source_shape,
        max_bytes_billed=max_bytes_billed or bigquery.DEFAULT_MAX_BYTES_BILLED,
        lookback=lookback or bigquery.DEFAULT_LOOKBACK,
        endpoint=endpoint,
        anonymous=anonymous,
        attempt_rows=attempt_rows,
        env_services=source_services,
        billing_project=billing_project,
        location=location,
        job_timeout=job_timeout or bigquery.DEFAULT_JOB_TIMEOUT,
        labels=labels,
        window=window,
    )


def _require_bigquery_extra() -> None:
    """BigQuery's client is an optional extra (the weekly job reads the lake without it)."""
    import importlib.util

    for module in ("google.cloud.bigquery", "pyarrow"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # its parent package is missing too
            found = False
        if not found:
            raise AnalyzerError(
                f"--engine bigquery needs the bigquery extra ({module} is not installed): "
                "install analyzer[bigquery], e.g. `uv sync --extra bigquery`"
            )


__all__ = [
    "AUTO_COUNTS_PAST",
    "AttemptRows",
    "Engine",
    "EngineName",
    "local_engine",
    "open_engine",
]
