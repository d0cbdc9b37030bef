"""The ingest pipeline: raw Cloud Logging entries in, deduplicated segments and quarantine out."""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from analyzer.errors import AnalyzerError
from analyzer.ingest.shapes import ShapeError, TooDeep, flatten_entries
from analyzer.ingest.sources import Piece, batches, discover, file_size, vanished
from analyzer.ingest.staging import (
    NOT_AN_ENTRY,
    UnreadableInput,
    batch_connection,
    stage,
)
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
    skip_reasons: dict[str, int] = field(default_factory=dict)
    passed_over: list[str] = field(default_factory=list)  # what a folder held but was not read
    env: str = ""
    other_envs: dict[str, int] = field(default_factory=dict)  # skipped: they carry another env
    import_id: str = ""  # as the store's imports.jsonl records it (`analyze forget --import`)

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
        for mine, theirs in (
            (self.quarantine_reasons, other.quarantine_reasons),
            (self.skip_reasons, other.skip_reasons),
        ):
            for reason, count in theirs.items():
                mine[reason] = mine.get(reason, 0) + count
        self.passed_over += other.passed_over

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
            + (f" (import {self.import_id})" if self.import_id else "")
        )

    def detail_lines(self) -> list[str]:
        """One line per reason an entry was skipped or quarantined, and per file not read."""
        return [
            *(f"  skipped {n:,}: {r}" for r, n in sorted(self.skip_reasons.items())),
            *(f"  quarantined {n:,}: {r}" for r, n in sorted(self.quarantine_reasons.items())),
            *(f"  not read: {what}" for what in self.passed_over),
        ]


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
    """Import export files and folders into the store's lake (see docs/telemetry.md §4)."""
    found = discover(paths)
    result = import_files(found.files, env=env, store=store, on_progress=on_progress)
    result.passed_over = found.passed_over + result.passed_over
    return result


def record_import(store: Store, env: str, sources: list[str], result: ImportResult) -> str:
    """One line in the store's imports.jsonl: the import's id, env, files and counts, so
    `analyze forget --import ID` can undo it. Returns the id."""
    import json
    import uuid
    from datetime import UTC, datetime

    from analyzer.lake.store import IMPORTS_LOG, append_line

    import_id = uuid.uuid4().hex[:8]
    record = {
        "import_id": import_id,
        "at": datetime.now(UTC).isoformat(),
        "env": env,
        "sources": sources,
        "stored": result.stored,
        "quarantined": result.quarantined,
    }
    append_line(store.root / IMPORTS_LOG, json.dumps(record) + "\n")
    return import_id


def import_files(
    files: Sequence[Path],
    *,
    env: str,
    store: Store,
    on_progress: ProgressCallback | None = None,
) -> ImportResult:
    """Import exactly these files, batch by batch, each batch published as whole segments."""
    check_env_name(env)
    with _write_errors_named(store), store.writer_lock():
        result = import_files_locked(files, env=env, store=store, on_progress=on_progress)
        if result.stored or result.quarantined:  # recorded with the lock held, in its store
            result.import_id = record_import(store, env, [str(p) for p in files], result)
        return result


@contextlib.contextmanager
def _write_errors_named(store: Store) -> Iterator[None]:
    """A full disk, a file size limit or a store that cannot be written: one line naming the
    file, never a traceback (the lake keeps only whole segments either way)."""
    try:
        yield
    except OSError as exc:
        where = exc.filename or store.root
        raise AnalyzerError(
            f"{where}: {exc.strerror or exc}; the import stopped (what it stored is whole)"
        ) from exc
    except duckdb.IOException as exc:
        # DuckDB's text names the file deep inside (`Could not write file "PATH": REASON`).
        # Any other error (a damaged segment read) passes unchanged, for the caller to name.
        found = _WRITE_FAILED.search(str(exc).replace('\\"', '"'))
        if not found:
            raise
        raise AnalyzerError(
            f"{found[1]}: {found[2]}; the import stopped (what it stored is whole)"
        ) from exc


_WRITE_FAILED = re.compile(r'Could not write file "([^"]+)": ([^"]+)')


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
    bytes_total = sum(file_size(p) for p in files)
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
    except _OtherShapes as shapes:
        with _flattened(batch, shapes.sources, store) as flat:
            return _import_flattened(flat, batch, env=env, store=store, source_name=source_name)
    except UnreadableInput as exc:
        if len(batch) > 1:
            # Find the file at fault, so the message can name it; good files still import.
            result = ImportResult()
            for piece in batch:
                result.add(_import_batch([piece], env=env, store=store, source_name=source_name))
            return result
        (piece,) = batch
        if not Path(piece.path).exists():
            raise vanished(piece.source) from exc
        problem = str(exc)
        if not piece.flattened:
            # A value DuckDB's reader cannot take whole (an array of entries larger than its
            # limit, behind a byte-order mark or one after another) is read value by value.
            try:
                with _flattened(batch, {piece.source}, store) as flat:
                    return _import_flattened(
                        flat, batch, env=env, store=store, source_name=source_name
                    )
            except (ShapeError, UnicodeError, EOFError, gzip.BadGzipFile) as shape_exc:
                problem = f"{problem} ({shape_exc})"
        raise AnalyzerError(
            f"{piece.source}: cannot read as Cloud Logging JSON: {problem}"
        ) from exc


def _import_flattened(
    flat: list[Piece], batch: list[Piece], *, env: str, store: Store, source_name: str | None
) -> ImportResult:
    """The batch as `_flattened` rewrote it; its pieces too deep to rewrite are not read,
    each named (the rest of the import goes on)."""
    readable = [piece for piece in flat if piece.too_deep is None]
    result = (
        _import_batch(readable, env=env, store=store, source_name=source_name)
        if readable
        else ImportResult(env=env)
    )
    result.passed_over += [f"{p.source} ({p.too_deep}: not an export)" for p in flat if p.too_deep]
    return result


class _OtherShapes(Exception):
    """The batch holds arrays of entries or saved responses, in these pieces' `source`s."""

    def __init__(self, sources: set[str]) -> None:
        self.sources = sources


@contextlib.contextmanager
def _flattened(batch: list[Piece], sources: set[str], store: Store) -> Iterator[list[Piece]]:
    """The batch with the pieces from `sources` rewritten one entry a line (shapes.py), under
    the store's `.tmp/`, removed afterwards."""
    folder = store.tmp_dir / "shapes"
    folder.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    try:
        flat = []
        for piece in batch:
            if piece.source in sources and not piece.flattened:
                handle, name = tempfile.mkstemp(dir=folder, suffix=".jsonl")
                os.close(handle)
                made.append(Path(name))
                try:
                    flatten_entries(piece.path, made[-1])
                except TooDeep as exc:
                    piece = dataclasses.replace(piece, too_deep=str(exc))
                else:
                    piece = dataclasses.replace(
                        piece, path=made[-1], size=made[-1].stat().st_size, flattened=True
                    )
            flat.append(piece)
        yield flat
    finally:
        for path in made:
            path.unlink(missing_ok=True)


def _normalise_and_publish(
    batch: list[Piece], *, env: str, store: Store, source_name: str | None
) -> ImportResult:
    sources = {str(piece.path): source_name or piece.source for piece in batch}
    con = batch_connection(sources, spill_dir=store.tmp_dir / "spill")
    try:
        stage(con, env=env)
        other_shapes = {
            str(source)
            for (source,) in con.execute(
                load_sql("other_shape_sources"), {"not_an_entry": NOT_AN_ENTRY}
            ).fetchall()
        }
        pending = {
            p.source for p in batch if not p.flattened and (source_name or p.source) in other_shapes
        }
        if pending:
            raise _OtherShapes(pending)
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
                result.skip_reasons[reason] = result.skip_reasons.get(reason, 0) + count
            elif disposition == "quarantined":
                result.quarantined += count
                result.quarantine_reasons[reason] = result.quarantine_reasons.get(reason, 0) + count

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
            "UPDATE staged SET disposition = 'skipped', reason = 'carries another env: ' || env "
            "WHERE disposition = 'stored' AND env <> ?",
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
