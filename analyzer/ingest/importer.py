"""The ingest pipeline: raw Cloud Logging entries in, deduplicated segments and quarantine out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from analyzer.errors import AnalyzerError
from analyzer.ingest.sources import batches, discover
from analyzer.lake import Store, check_env_name, new_connection, segment_pattern
from analyzer.queries import load_sql

# Cloud Logging refuses entries over 256 KiB; anything over 1 MiB is quarantined whole unread.
# The reader accepts up to READ_MAX_BYTES, so such an entry reaches the quarantine at all.
MAX_ENTRY_BYTES = 1024 * 1024
READ_MAX_BYTES = 16 * 1024 * 1024
MEMORY_LIMIT = "600MB"  # with the interpreter and libraries, peak RSS stays under 1 GB
CONFLICT = "insertId already stored with different content"


@dataclass
class ImportResult:
    """What one import did, entry by entry: every entry read lands in exactly one count."""

    files: int = 0
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    skipped: int = 0
    quarantined: int = 0
    segments: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: ImportResult) -> None:
        self.files += other.files
        self.read += other.read
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.skipped += other.skipped
        self.quarantined += other.quarantined
        self.segments += other.segments
        for reason, count in other.quarantine_reasons.items():
            self.quarantine_reasons[reason] = self.quarantine_reasons.get(reason, 0) + count

    def summary_line(self) -> str:
        return (
            f"read {self.read:,} entries from {self.files:,} file(s): stored {self.stored:,}, "
            f"duplicates {self.duplicates:,}, skipped {self.skipped:,} (not telemetry), "
            f"quarantined {self.quarantined:,}"
        )


@dataclass(frozen=True)
class ImportProgress:
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    so_far: ImportResult


ProgressCallback = Callable[[ImportProgress], None]


def import_paths(
    paths: Sequence[str | Path],
    *,
    env: str,
    store: Store,
    on_progress: ProgressCallback | None = None,
) -> ImportResult:
    """Import export files and folders into the store's lake (see TELEMETRY.md §4)."""
    return import_files(discover(paths), env=env, store=store, on_progress=on_progress)


def import_files(
    files: Sequence[Path],
    *,
    env: str,
    store: Store,
    on_progress: ProgressCallback | None = None,
) -> ImportResult:
    """Import exactly these files, batch by batch, each batch published as whole segments."""
    check_env_name(env)
    with store.writer_lock():
        return import_files_locked(files, env=env, store=store, on_progress=on_progress)


def import_files_locked(
    files: Sequence[Path],
    *,
    env: str,
    store: Store,
    on_progress: ProgressCallback | None = None,
    source_name: str | None = None,
) -> ImportResult:
    """`import_files` for a caller that already holds the store's writer lock (the collector).
    `source_name` stands in for the file name in the lake's `source_file` column."""
    total = ImportResult()
    bytes_total = sum(p.stat().st_size for p in files)
    bytes_done = 0
    for batch in batches(files):
        total.add(_import_batch(batch, env=env, store=store, source_name=source_name))
        bytes_done += sum(p.stat().st_size for p in batch)
        if on_progress:
            on_progress(ImportProgress(total.files, len(files), bytes_done, bytes_total, total))
    return total


class _UnreadableInput(Exception):
    """DuckDB could not read or parse the batch's files."""


def _import_batch(
    files: list[Path], *, env: str, store: Store, source_name: str | None = None
) -> ImportResult:
    try:
        return _normalise_and_publish(files, env=env, store=store, source_name=source_name)
    except _UnreadableInput as exc:
        if len(files) > 1:
            # Find the file at fault, so the message can name it; good files still import.
            result = ImportResult()
            for path in files:
                result.add(_import_batch([path], env=env, store=store, source_name=source_name))
            return result
        raise AnalyzerError(f"{files[0]}: cannot read as Cloud Logging JSON: {exc}") from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _normalise_and_publish(
    files: list[Path], *, env: str, store: Store, source_name: str | None
) -> ImportResult:
    spill = store.tmp_dir / "spill"
    con = new_connection(
        {
            "memory_limit": MEMORY_LIMIT,
            "temp_directory": str(spill),
            "preserve_insertion_order": False,
        }
    )
    try:
        con.execute("SET VARIABLE batch_files = ?", [[str(p) for p in files]])
        con.execute("SET VARIABLE read_max_bytes = ?", [READ_MAX_BYTES])
        con.execute("SET VARIABLE source_name = ?", [source_name])
        con.execute(
            "CREATE TEMP VIEW raw_entries AS "
            "SELECT coalesce(getvariable('source_name'), filename) AS source_file, json AS entry "
            "FROM read_json_objects(getvariable('batch_files'), format = 'auto', "
            "filename = true, maximum_object_size = getvariable('read_max_bytes'))"
        )
        try:
            con.execute(
                "CREATE TEMP TABLE staged AS " + load_sql("normalised_entries"),
                {
                    "default_env": env,
                    "ingested_at": datetime.now(UTC),
                    "max_entry_bytes": MAX_ENTRY_BYTES,
                },
            )
        except (duckdb.InvalidInputException, duckdb.IOException) as exc:
            raise _UnreadableInput(_first_line(exc)) from exc
        _define_existing(con, "stored_ids", "insert_id", store.segments("events"))
        _define_existing(con, "quarantined_hashes", "entry_hash", store.segments("quarantine"))

        result = ImportResult(files=len(files))
        for disposition, reason, count in con.execute(
            "SELECT disposition, reason, count(*) FROM staged GROUP BY ALL"
        ).fetchall():
            result.read += count
            if disposition == "skipped":
                result.skipped += count
            elif disposition == "quarantined":
                result.quarantined += count
                result.quarantine_reasons[reason] = count

        con.execute("CREATE TEMP TABLE suspects AS " + load_sql("suspect_ids"))
        con.execute("CREATE TEMP TABLE first_suspect_rows AS " + load_sql("first_suspect_rows"))
        _define_lake_matches(con, store.segments("events"))
        con.execute("CREATE TEMP TABLE conflicts AS " + load_sql("conflicting_rows"))
        conflicts = _count(con, "conflicts")
        if conflicts:
            result.quarantined += conflicts
            result.quarantine_reasons[CONFLICT] = conflicts
        stored, segments = _write_segments(
            con, store, load_sql("new_lake_rows"), "events", ["env", "date"]
        )
        result.stored = stored
        result.segments += segments
        telemetry = result.read - result.skipped - result.quarantined
        result.duplicates = telemetry - result.stored

        con.execute(
            "CREATE TEMP TABLE fresh_quarantine AS " + load_sql("new_quarantine_rows"),
            {"default_env": env, "conflict_reason": CONFLICT},
        )
        _write_segments(con, store, "FROM fresh_quarantine", "quarantine", ["env"])
        return result
    finally:
        con.close()


def _define_lake_matches(con: duckdb.DuckDBPyConnection, files: list[Path]) -> None:
    """The lake's rows of the batch's suspect ids it holds (to tell repeats from conflicts)."""
    if files:
        con.execute(
            "CREATE TEMP VIEW lake_matches AS SELECT insert_id, ts, payload FROM read_parquet("
            "getvariable('stored_ids_files'), hive_partitioning = false, union_by_name = true) "
            "WHERE insert_id IN (SELECT insert_id FROM suspects WHERE in_lake)"
        )
    else:
        con.execute(
            "CREATE TEMP VIEW lake_matches AS SELECT NULL::VARCHAR AS insert_id, "
            "NULL::TIMESTAMPTZ AS ts, NULL::VARCHAR AS payload WHERE false"
        )


def _define_existing(
    con: duckdb.DuckDBPyConnection, view: str, column: str, files: list[Path]
) -> None:
    """A one-column view of what the store already holds, empty for a new store."""
    if files:
        con.execute(f"SET VARIABLE {view}_files = ?", [[str(p) for p in files]])
        con.execute(
            f"CREATE TEMP VIEW {view} AS SELECT {column} FROM read_parquet("
            f"getvariable('{view}_files'), hive_partitioning = false, union_by_name = true)"
        )
    else:
        con.execute(f"CREATE TEMP VIEW {view} AS SELECT NULL::VARCHAR AS {column} WHERE false")


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()
    return int(rows[0][0])


def _write_segments(
    con: duckdb.DuckDBPyConnection, store: Store, query: str, kind: str, partition_by: list[str]
) -> tuple[int, int]:
    """Write the query's rows as segments of `kind` and publish them: (rows, segments)."""
    staged = store.new_staging_dir()
    con.execute("SET VARIABLE segment_dir = ?", [str(staged)])
    rows = con.execute(
        f"COPY ({query}) TO (getvariable('segment_dir')) (FORMAT parquet, COMPRESSION zstd, "
        f"PARTITION_BY ({', '.join(partition_by)}), WRITE_PARTITION_COLUMNS true, "
        f"FILENAME_PATTERN '{segment_pattern()}', OVERWRITE, RETURN_FILES)"
    ).fetchall()
    written = int(rows[0][0]) if rows else 0
    return written, (store.publish(staged, kind) if written else 0)
