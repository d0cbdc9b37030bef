"""The ingest pipeline: raw Cloud Logging entries in, deduplicated segments and quarantine out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from analyzer.errors import AnalyzerError
from analyzer.ingest.sources import Piece, batches, discover
from analyzer.ingest.staging import UnreadableInput, batch_connection, stage
from analyzer.lake.segments import write_segments
from analyzer.lake.sql import load_sql
from analyzer.lake.store import Store, check_env_name

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
    env: str = ""
    other_envs: dict[str, int] = field(default_factory=dict)  # skipped: they carry another env

    def add(self, other: ImportResult) -> None:
        self.env = self.env or other.env
        for name, count in other.other_envs.items():
            self.other_envs[name] = self.other_envs.get(name, 0) + count
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
        foreign = sum(self.other_envs.values())
        skipped = f"skipped {self.skipped:,} (not telemetry)"
        if foreign:
            envs = ", ".join(f"{name} {count:,}" for name, count in sorted(self.other_envs.items()))
            skipped = (
                f"skipped {self.skipped:,} ({self.skipped - foreign:,} not telemetry, {foreign:,} "
                f"carrying another env: {envs}; import those with that --env)"
            )
        return (
            f"read {self.read:,} entries from {self.files:,} file(s): stored {self.stored:,} in "
            f"env {self.env}, duplicates {self.duplicates:,}, {skipped}, "
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
    files_done: set[str] = set()
    for batch in batches(files, scratch=store.tmp_dir / "slices"):
        total.add(_import_batch(batch, env=env, store=store, source_name=source_name))
        bytes_done += sum(piece.size for piece in batch)
        files_done.update(piece.source for piece in batch)
        if on_progress:
            progress = ImportProgress(len(files_done), len(files), bytes_done, bytes_total, total)
            on_progress(progress)
    total.files = len(files)
    return total


def _import_batch(
    batch: list[Piece], *, env: str, store: Store, source_name: str | None
) -> ImportResult:
    try:
        return _normalise_and_publish(batch, env=env, store=store, source_name=source_name)
    except UnreadableInput as exc:
        if len(batch) > 1:
            # Find the file at fault, so the message can name it; good files still import.
            result = ImportResult()
            for piece in batch:
                result.add(_import_batch([piece], env=env, store=store, source_name=source_name))
            return result
        raise AnalyzerError(f"{batch[0].source}: cannot read as Cloud Logging JSON: {exc}") from exc


def _normalise_and_publish(
    batch: list[Piece], *, env: str, store: Store, source_name: str | None
) -> ImportResult:
    sources = {str(piece.path): source_name or piece.source for piece in batch}
    con = batch_connection(sources, spill_dir=store.tmp_dir / "spill")
    try:
        stage(con, env=env)
        other_envs = _select_env(con, env)
        _define_existing(con, "stored_ids", "insert_id", store.segments("events"))
        _define_existing(con, "quarantined_hashes", "entry_hash", store.segments("quarantine"))

        result = ImportResult(env=env, other_envs=other_envs)
        for disposition, reason, count in con.execute(
            "SELECT disposition, reason, count(*) FROM staged GROUP BY ALL"
        ).fetchall():
            result.read += count
            if disposition == "skipped":
                result.skipped += count
            elif disposition == "quarantined":
                result.quarantined += count
                result.quarantine_reasons[reason] = count

        con.execute("CREATE TABLE suspects AS " + load_sql("suspect_ids"))
        con.execute("CREATE TABLE first_suspect_rows AS " + load_sql("first_suspect_rows"))
        _define_lake_matches(con, store.segments("events"))
        con.execute("CREATE TEMP TABLE conflicts AS " + load_sql("conflicting_rows"))
        conflicts = _count(con, "conflicts")
        if conflicts:
            result.quarantined += conflicts
            result.quarantine_reasons[CONFLICT] = conflicts
        stored, segments = write_segments(
            con, store, load_sql("new_lake_rows"), "events", ["env", "date"]
        )
        result.stored = stored
        result.segments += segments
        telemetry = result.read - result.skipped - result.quarantined
        result.duplicates = telemetry - result.stored

        con.execute(
            "CREATE TABLE fresh_quarantine AS " + load_sql("new_quarantine_rows"),
            {"default_env": env, "conflict_reason": CONFLICT},
        )
        write_segments(con, store, "FROM fresh_quarantine", "quarantine", ["env"])
        return result
    finally:
        con.close()


def _select_env(con: duckdb.DuckDBPyConnection, env: str) -> dict[str, int]:
    """`--env` selects: telemetry whose payload names another env is skipped, counted by env,
    never written under either name."""
    found = con.execute(
        "SELECT env, count(*) FROM staged WHERE disposition = 'stored' AND env <> ? GROUP BY env",
        [env],
    ).fetchall()
    if found:
        con.execute(
            "UPDATE staged SET disposition = 'skipped' WHERE disposition = 'stored' AND env <> ?",
            [env],
        )
    return {str(name): int(count) for name, count in found}


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
