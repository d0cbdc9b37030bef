"""DuckDB connections as every part of the lake opens them: in memory, in UTC, no progress bar."""

from __future__ import annotations

import contextlib

import duckdb


def new_connection(
    config: dict[str, str | bool | int | float | list[str]] | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory connection in UTC, without DuckDB's progress bar (the CLI shows its own)."""
    con = duckdb.connect(config=config or {})
    con.execute("SET TimeZone = 'UTC'")
    # Inside Jupyter without ipywidgets DuckDB refuses to touch the setting at all.
    with contextlib.suppress(duckdb.Error):
        con.execute("SET enable_progress_bar = false")
    return con
