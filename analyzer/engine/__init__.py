"""The seam between the questions the analysis asks and where they are answered.

Above it, modules ask for relations by name (`queries/<name>.sql`: `env_time_range`,
`env_overview`, `phase_outcome_counts`, `backtest_attempts`, `report_timeline`, the window's
attempts) with bound parameters, and never learn which engine answered. The local lake
(DuckDB over Parquet, `engine/local.py`) answers today.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

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
        """The window's phase attempts ($env, $start, $end): group keys (gid, phase,
        operation, vpc_state, attempts) and numeric columns keyed by gid."""
        ...


def local_engine(store: Store) -> Engine:
    """The engine over a local lake."""
    from analyzer.engine.local import LocalEngine

    return LocalEngine(store)


__all__ = ["Engine", "local_engine"]
