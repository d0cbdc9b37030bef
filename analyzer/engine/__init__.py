"""The seam between the questions the analysis asks and where they are answered.

Above it, modules ask for relations by name (`queries/<name>.sql`: `env_time_range`,
`env_overview`, `phase_outcome_counts`, `backtest_attempts`, `report_timeline`, the window's
attempts) with bound parameters, and never learn which engine answered: the local lake
(DuckDB over Parquet, `engine/local.py`) or BigQuery (GoogleSQL of `queries/bigquery/` over a Log
Router sink table or Log Analytics' `_AllLogs`, `engine/bigquery.py`). `open_engine` picks one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from analyzer.errors import AnalyzerError

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

    from analyzer.errors import NoDataError
    from analyzer.lake.store import Store


class QuestionNotAnswered(AnalyzerError):
    """The engine has no version of this question (yet): the caller may go on without it."""


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


def local_engine(store: Store) -> Engine:
    """The engine over a local lake."""
    from analyzer.engine.local import LocalEngine

    return LocalEngine(store)


EngineName = Literal["local", "bigquery"]


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
) -> Engine:
    """The engine a command asked for: the local lake in `store`, or BigQuery over `source`
    (PROJECT.DATASET.TABLE; its shape, sink or Log Analytics, detected unless given)."""
    if engine == "local":
        return local_engine(store)
    if not source:
        raise AnalyzerError(
            "--engine bigquery needs --source PROJECT.DATASET.TABLE "
            "(a Log Router sink table, or _AllLogs of a Log Analytics linked dataset)"
        )
    from analyzer.engine import bigquery

    return bigquery.open_bigquery(
        source=source,
        shape=source_shape,
        max_bytes_billed=max_bytes_billed or bigquery.DEFAULT_MAX_BYTES_BILLED,
        lookback=lookback or bigquery.DEFAULT_LOOKBACK,
        endpoint=endpoint,
        anonymous=anonymous,
    )


__all__ = ["Engine", "EngineName", "QuestionNotAnswered", "local_engine", "open_engine"]
