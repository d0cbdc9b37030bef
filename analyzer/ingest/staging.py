"""One import batch, read and normalised into the DuckDB table `staged`."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from analyzer.ingest.envs import env_params
from analyzer.lake.connection import new_connection
from analyzer.lake.sql import load_sql
from analyzer.runtime.telemetry import CONFIG_OUTCOMES, EVENTS
from analyzer.timewindow import plausible_time_params

# Cloud Logging refuses entries over 256 KiB; one whose payload is over 1 MiB is quarantined whole.
MAX_ENTRY_BYTES = 1024 * 1024
READ_MAX_BYTES = 16 * 1024 * 1024  # the readers' limit, so such an entry reaches the quarantine
MEMORY_LIMIT = "600MB"  # with the interpreter and libraries, peak RSS stays under 1 GB

# The reason the normaliser gives a JSON value that is not a log entry (an array, a saved
# response, a number): the importer reads a file holding arrays or responses again through
# shapes.py, and quarantines what is still not an entry.
NOT_AN_ENTRY = "not a Cloud Logging entry"

# The fast reader first; the entry-by-entry reader takes what it cannot (see `stage`).
COLUMN_READER = "entry_fields_columns"
ENTRY_READER = "entry_fields_objects"


class UnreadableInput(Exception):
    """DuckDB could not read or parse the batch's files."""


def batch_connection(sources: Mapping[str, str], *, spill_dir: Path) -> duckdb.DuckDBPyConnection:
    """A connection, capped in memory and spilling to `spill_dir`, set up to read the files
    `sources` maps to what the lake's `source_file` column names for each."""
    con = new_connection(
        {
            "memory_limit": MEMORY_LIMIT,
            "temp_directory": str(spill_dir),
            "preserve_insertion_order": False,
        }
    )
    con.execute("SET VARIABLE source_names = MAP(?, ?)", [list(sources), list(sources.values())])
    values: dict[str, object] = {
        "batch_files": [literal_glob(path) for path in sources],
        "read_max_bytes": READ_MAX_BYTES,
        "max_entry_bytes": MAX_ENTRY_BYTES,
    }
    for name, value in values.items():
        con.execute(f"SET VARIABLE {name} = ?", [value])
    return con


def literal_glob(path: str) -> str:
    """A glob pattern that matches `path` only: DuckDB's readers expand every file name they
    are given, so `[`, `*` and `?` are each put in brackets of their own."""
    return re.sub(r"([\[*?])", r"[\1]", path)


def stage(con: duckdb.DuckDBPyConnection, *, env: str) -> None:
    """Normalise the batch into the table `staged`.

    The column reader parses each entry once, as it reads it, but keeps no entry's text and
    refuses entries of other shapes. So the batch is read again whole, entry by entry, when the
    column reader fails or when any entry is to be quarantined (the quarantine keeps it whole).
    """
    with contextlib.suppress(duckdb.Error):
        normalise_with(con, COLUMN_READER, env=env)
        quarantined = "SELECT 1 FROM staged WHERE disposition = 'quarantined' LIMIT 1"
        if not con.execute(quarantined).fetchall():
            return
    try:
        normalise_with(con, ENTRY_READER, env=env)
    except (duckdb.InvalidInputException, duckdb.IOException) as exc:
        raise UnreadableInput(first_line(exc)) from exc


def normalise_with(con: duckdb.DuckDBPyConnection, reader: str, *, env: str) -> None:
    """`staged` from the batch's files through one reader (COLUMN_READER or ENTRY_READER)."""
    con.execute("DROP TABLE IF EXISTS staged")
    con.execute("CREATE OR REPLACE TEMP VIEW entry_fields AS " + load_sql(reader))
    con.execute("CREATE TABLE staged AS " + load_sql("normalised_entries"), normaliser_params(env))


def normaliser_params(env: str) -> dict[str, object]:
    """The parameters of queries/normalised_entries.sql for an import into `env`, now."""
    return {
        "default_env": env,
        "ingested_at": datetime.now(UTC),
        "max_entry_bytes": MAX_ENTRY_BYTES,
        "events": list(EVENTS),
        "config_outcomes": list(CONFIG_OUTCOMES),
        "not_an_entry": NOT_AN_ENTRY,
        **plausible_time_params(),
        **env_params(),
    }


def first_line(exc: Exception) -> str:
    """The first line of an error's text (DuckDB's go on with hints and context)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
