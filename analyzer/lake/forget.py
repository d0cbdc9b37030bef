"""`analyze forget`: the rows one import brought (by the file they came from) taken out of an
env's events and quarantine, so an import under the wrong --env can be undone and done again.

Each segment holding such rows is rewritten without them and published (one rename) before
the old one is removed, under the writer lock and the segment-swap lock, as `compact` does: a
crash in between leaves the old rows readable, and running `forget` again finishes the job.
Every forget is recorded, one JSON line, in the store's `forgotten.jsonl`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from analyzer.errors import AnalyzerError, NoDataError, did_you_mean
from analyzer.lake.connection import new_connection
from analyzer.lake.lock import segment_swap
from analyzer.lake.store import (
    IMPORTS_LOG,
    Store,
    append_line,
    check_env_name,
    segment_pattern,
)
from analyzer.lake.verify import naming_damaged_segments

FORGOTTEN_LOG = "forgotten.jsonl"
_READ = "read_parquet(getvariable('segment'), hive_partitioning = false)"


@dataclass
class ForgetResult:
    env: str
    sources: list[str] = field(default_factory=list)
    events: int = 0
    quarantined: int = 0
    segments_rewritten: int = 0
    segments_removed: int = 0

    def summary_line(self) -> str:
        return (
            f"forgot {self.events:,} events and {self.quarantined:,} quarantined entries of env "
            f"{self.env} from {', '.join(self.sources)}: {self.segments_rewritten} segment(s) "
            f"rewritten, {self.segments_removed} removed (recorded in {FORGOTTEN_LOG})"
        )


def forget(
    *, store: Store, env: str, source: str | None = None, import_id: str | None = None
) -> ForgetResult:
    """Take out of `env` every row imported from `source`: a file as the import named it, or
    a folder (every file imported from under it); or every file of the import `import_id`
    (the store's imports.jsonl names its files)."""
    check_env_name(env)
    if (source is None) == (import_id is None):
        raise AnalyzerError("give --source PATH or --import ID (one of them)")
    wanted = _import_sources(store, env, import_id) if import_id else None
    if not store.root.is_dir():
        raise NoDataError(f"no store at {store.location}: nothing to forget")
    with store.writer_lock():
        kinds = {
            "events": store.segments("events"),
            "quarantine": store.segments("quarantine"),
        }
        mine = {
            kind: [p for p in paths if f"env={env}" in p.relative_to(store.root / kind).parts]
            for kind, paths in kinds.items()
        }
        con = new_connection()
        try:
            with naming_damaged_segments(store):
                known = _sources(con, [p for paths in mine.values() for p in paths])
                if wanted is not None:
                    chosen = [name for name in known if name in wanted]
                    if not chosen:
                        raise AnalyzerError(
                            f"nothing of import {import_id} is left in env {env} of store "
                            f"{store.location}"
                        )
                else:
                    assert source is not None
                    chosen = matching_sources(source, known)
                if not chosen:
                    assert source is not None
                    hint = did_you_mean(source, known)
                    raise AnalyzerError(
                        f"no import from {source!r} in env {env} of store {store.location}"
                        f"{hint}; " + (f"{len(known)} source(s) there" if known else "it is empty")
                    )
                result = ForgetResult(env=env, sources=sorted(chosen))
                for kind, paths in mine.items():
                    for segment in paths:
                        _drop_rows(con, store, kind, segment, chosen, result)
        finally:
            con.close()
        store.reseal(store.sealed_among(store.segments("events")))
        store.keep_checksums(store.segments("events") + store.segments("quarantine"))
        record = {"at": datetime.now(UTC).isoformat(), **asdict(result)}
        append_line(store.root / FORGOTTEN_LOG, json.dumps(record) + "\n")
    return result


def _import_sources(store: Store, env: str, import_id: str) -> set[str]:
    """The files the import `import_id` of `env` read, as the store's imports.jsonl has them."""
    try:
        lines = (store.root / IMPORTS_LOG).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
    ids = [r.get("import_id") for r in records if r.get("env") == env]
    for record in records:
        if record.get("import_id") == import_id and record.get("env") == env:
            return {str(s) for s in record.get("sources", [])}
    hint = did_you_mean(import_id, [str(i) for i in ids])
    raise AnalyzerError(
        f"no import {import_id!r} of env {env} in {store.location}/{IMPORTS_LOG}{hint}"
    )


def matching_sources(source: str, known: list[str]) -> list[str]:
    """The recorded sources that are `source`, or lie under it as a folder, by path."""
    wanted = Path(source).expanduser().resolve()
    found = []
    for name in known:
        path = Path(name).expanduser().resolve()
        if name == source or path == wanted or wanted in path.parents:
            found.append(name)
    return found


def _sources(con: duckdb.DuckDBPyConnection, segments: list[Path]) -> list[str]:
    if not segments:
        return []
    con.execute("SET VARIABLE segments = ?", [[str(p) for p in segments]])
    rows = con.execute(
        "SELECT DISTINCT source_file FROM read_parquet(getvariable('segments'), "
        "hive_partitioning = false, union_by_name = true) WHERE source_file IS NOT NULL"
    ).fetchall()
    return sorted(str(name) for (name,) in rows)


def _drop_rows(
    con: duckdb.DuckDBPyConnection,
    store: Store,
    kind: str,
    segment: Path,
    chosen: list[str],
    result: ForgetResult,
) -> None:
    """Rewrite `segment` without the rows of `chosen` (remove it if nothing else is left)."""
    con.execute("SET VARIABLE segment = ?", [str(segment)])
    con.execute("SET VARIABLE chosen = ?", [chosen])
    ((dropped, total),) = con.execute(
        f"SELECT count(*) FILTER (source_file IN (SELECT unnest(getvariable('chosen')))), "
        f"count(*) FROM {_READ}"
    ).fetchall()
    if not dropped:
        return
    if kind == "events":
        result.events += int(dropped)
    else:
        result.quarantined += int(dropped)
    was_sealed = store.all_sealed([segment])
    staged = store.new_staging_dir()
    written: list[Path] = []
    if dropped < total:
        target = staged / segment.parent.relative_to(store.root / kind)
        target.mkdir(parents=True)
        name = segment_pattern().replace("{uuid}", uuid.uuid4().hex) + ".parquet"
        con.execute("SET VARIABLE segment_file = ?", [str(target / name)])
        con.execute(
            f"COPY (SELECT * FROM {_READ} WHERE source_file IS NULL OR source_file NOT IN "
            "(SELECT unnest(getvariable('chosen')))) TO (getvariable('segment_file')) "
            "(FORMAT parquet, COMPRESSION zstd)"
        )
    with segment_swap(store.root):  # readers list the segments before this or after
        if dropped < total:
            written = store.publish(staged, kind, seal=kind == "events" and was_sealed)
        segment.unlink()
    result.segments_rewritten += len(written)
    result.segments_removed += 0 if written else 1
