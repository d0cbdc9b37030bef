"""`analyze compact`: many small segments of one day rewritten as one, each event once.

The new segment holds each `insert_id` of the day once (the row ingested first, as `events`
reads it), whatever the old segments held: repeats left by a copied-in segment or by a compact
cut short are dropped here. It is published (one rename) before the old ones are removed: a
crash in between leaves each event twice on disk, which `events` reads once, and the next
compact finishes the job. So the new segment is sealed (see `Store.seal`) only once the old
ones are gone, and only if they all were. Writers are held off by the store's lock meanwhile;
readers list the segments before that swap or after it, and keep what they listed readable
(`lake.snapshot`).

A segment that is not a whole Parquet file, whose columns are not the lake's, or whose bytes
differ from their recorded checksum is refused: named, left where it is, its rows not merged
(`analyze verify --fix` moves it aside).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from analyzer.errors import NoDataError
from analyzer.lake.connection import new_connection
from analyzer.lake.lock import segment_swap
from analyzer.lake.store import Store, check_env_name, file_checksum, segment_pattern
from analyzer.lake.verify import naming_damaged_segments, quick_check

DAY_ROWS = (
    "SELECT * FROM read_parquet(getvariable('day_files'), hive_partitioning = false, "
    "union_by_name = true) "
    "QUALIFY row_number() OVER (PARTITION BY insert_id ORDER BY ingested_at, source_file) = 1 "
    "ORDER BY ts, insert_id"
)


@dataclass
class CompactResult:
    partitions: int = 0
    segments_before: int = 0
    segments_after: int = 0
    rows: int = 0
    repeats_dropped: int = 0
    sealed_now: bool = False  # the lake's ids were checked distinct and every segment sealed
    refused: dict[str, str] = field(default_factory=dict)  # segment (store-relative): why

    def summary_line(self) -> str:
        line = (
            f"compacted {self.partitions} day(s): {self.segments_before:,} segments into "
            f"{self.segments_after:,}, {self.rows:,} events kept"
        )
        if self.repeats_dropped:
            line += f", {self.repeats_dropped:,} repeated rows dropped"
        if self.sealed_now:
            line += "; no insert_id twice in the lake: segments sealed, reads skip deduplication"
        if self.refused:
            line += f"; {len(self.refused)} damaged segment(s) refused and left as they are"
        return line


def compact(*, store: Store, env: str, min_segments: int = 2) -> CompactResult:
    """Rewrite every day of `env` that has at least `min_segments` sound segments as one."""
    check_env_name(env)
    if not store.root.is_dir():  # a mistyped --store must not leave an empty store behind
        raise NoDataError(f"no store at {store.location}: nothing to compact")
    result = CompactResult()
    with store.writer_lock():
        recorded = store.checksums()
        env_dir = store.events_dir / f"env={env}"
        days = sorted(p for p in env_dir.glob("date=*") if p.is_dir()) if env_dir.is_dir() else []
        for day in days:
            segments = sorted(day.glob("*.parquet"))
            if len(segments) < min_segments:
                continue
            refused = _refused(store, segments, recorded)
            result.refused.update({store.segment_key(p): why for p, why in refused.items()})
            segments = [p for p in segments if p not in refused]
            if len(segments) < min_segments:
                continue
            was_sealed = store.all_sealed(segments)
            read, kept, written = _rewrite(store, day, segments)
            if was_sealed:  # the new segment holds exactly their rows
                store.seal(written)
            result.rows += kept
            result.repeats_dropped += read - kept
            result.partitions += 1
            result.segments_before += len(segments)
            result.segments_after += 1
        _reseal(store, result)
    return result


def _refused(store: Store, segments: list[Path], recorded: dict[str, str]) -> dict[Path, str]:
    con = new_connection()
    try:
        found = {}
        for segment in segments:
            why = quick_check(con, segment, "events")
            digest = recorded.get(store.segment_key(segment))
            if why is None and digest is not None and file_checksum(segment) != digest:
                why = "its bytes differ from the checksum recorded when it was written"
            if why:
                found[segment] = why
        return found
    finally:
        con.close()


def _reseal(store: Store, result: CompactResult) -> None:
    """Seal the lake when no insert_id repeats in it; forget removed segments' records."""
    everything = store.segments("events")
    if result.refused:
        refused = {store.root / key for key in result.refused}
        segments = [p for p in everything if p not in refused]
        store.reseal(store.sealed_among(segments))  # a refused segment stays unsealed
    else:
        segments = everything
        with naming_damaged_segments(store):
            distinct = bool(segments) and _ids_distinct(segments)
        if distinct and not store.all_sealed(segments):
            store.reseal(segments)  # e.g. a lake written before seals were kept
            result.sealed_now = True
        else:
            store.reseal(store.sealed_among(segments))
    store.keep_checksums(everything + store.segments("quarantine"))


def _ids_distinct(segments: list[Path]) -> bool:
    """No insert_id twice in the whole lake (a hash collision only answers no)."""
    con = new_connection()
    try:
        con.execute("SET VARIABLE all_files = ?", [[str(p) for p in segments]])
        ((distinct,),) = con.execute(
            "SELECT count(*) = count(DISTINCT hash(insert_id)) FROM read_parquet("
            "getvariable('all_files'), hive_partitioning = false, union_by_name = true)"
        ).fetchall()
    finally:
        con.close()
    return bool(distinct)


def _rewrite(store: Store, day: Path, segments: list[Path]) -> tuple[int, int, list[Path]]:
    """(rows read, rows kept, the new segment)."""
    con = new_connection()
    try:
        with naming_damaged_segments(store):
            con.execute("SET VARIABLE day_files = ?", [[str(p) for p in segments]])
            ((read,),) = con.execute(
                "SELECT count(*) FROM read_parquet(getvariable('day_files'), "
                "hive_partitioning = false, union_by_name = true)"
            ).fetchall()
            staged = store.new_staging_dir()
            target = staged / day.relative_to(store.events_dir)
            target.mkdir(parents=True)
            name = segment_pattern().replace("{uuid}", uuid.uuid4().hex) + ".parquet"
            con.execute("SET VARIABLE segment_file = ?", [str(target / name)])
            ((kept,),) = con.execute(
                f"COPY ({DAY_ROWS}) TO (getvariable('segment_file')) "
                "(FORMAT parquet, COMPRESSION zstd)"
            ).fetchall()
    finally:
        con.close()
    with segment_swap(store.root):  # readers list the day's segments before this or after
        written = store.publish(staged, "events")
        for old in segments:
            old.unlink()
    return int(read), int(kept), written
