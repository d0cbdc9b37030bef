"""`analyze compact`: many small segments of one day rewritten as one, keeping every event.

The new segment is published (one rename) before the old ones are removed: a crash in between
leaves each event twice on disk, which `events` already reads once, and the next compact
finishes the job. So the new segment is sealed (see `Store.seal`) only once the old ones are
gone, and only if they all were. Writers are held off by the store's lock meanwhile.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from analyzer.errors import NoDataError
from analyzer.lake.connection import new_connection
from analyzer.lake.store import Store, check_env_name, segment_pattern


@dataclass
class CompactResult:
    partitions: int = 0
    segments_before: int = 0
    segments_after: int = 0
    rows: int = 0
    sealed_now: bool = False  # the lake's ids were checked distinct and every segment sealed

    def summary_line(self) -> str:
        line = (
            f"compacted {self.partitions} day(s): {self.segments_before:,} segments into "
            f"{self.segments_after:,}, {self.rows:,} events kept"
        )
        if self.sealed_now:
            line += "; no insert_id twice in the lake: segments sealed, reads skip deduplication"
        return line


def compact(*, store: Store, env: str, min_segments: int = 2) -> CompactResult:
    """Rewrite every day of `env` that has at least `min_segments` segments as one segment."""
    check_env_name(env)
    if not store.root.is_dir():  # a mistyped --store must not leave an empty store behind
        raise NoDataError(f"no store at {store.root}: nothing to compact")
    result = CompactResult()
    with store.writer_lock():
        env_dir = store.events_dir / f"env={env}"
        days = sorted(p for p in env_dir.glob("date=*") if p.is_dir()) if env_dir.is_dir() else []
        for day in days:
            segments = sorted(day.glob("*.parquet"))
            if len(segments) < min_segments:
                continue
            was_sealed = store.all_sealed(segments)
            rows, written = _rewrite(store, day, segments)
            if was_sealed:  # the new segment holds exactly their rows
                store.seal(written)
            result.rows += rows
            result.partitions += 1
            result.segments_before += len(segments)
            result.segments_after += 1
        segments = store.segments("events")
        if segments and not store.all_sealed(segments) and _ids_distinct(segments):
            store.reseal(segments)  # e.g. a lake written before seals were kept
            result.sealed_now = True
        else:  # forget the removed segments, so the record stays as small as the lake
            store.reseal(store.sealed_among(segments))
    return result


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


def _rewrite(store: Store, day: Path, segments: list[Path]) -> tuple[int, list[Path]]:
    con = new_connection()
    try:
        con.execute("SET VARIABLE day_files = ?", [[str(p) for p in segments]])
        rows = con.sql(
            "SELECT * FROM read_parquet(getvariable('day_files'), hive_partitioning = false, "
            "union_by_name = true) ORDER BY ts, insert_id"
        )
        (count,) = con.execute(
            "SELECT count(*) FROM read_parquet(getvariable('day_files'), "
            "hive_partitioning = false, union_by_name = true)"
        ).fetchall()[0]
        staged = store.new_staging_dir()
        target = staged / day.relative_to(store.root / "events")
        target.mkdir(parents=True)
        name = segment_pattern().replace("{uuid}", uuid.uuid4().hex) + ".parquet"
        rows.write_parquet(str(target / name), compression="zstd")
    finally:
        con.close()
    written = store.publish(staged, "events")
    for old in segments:
        old.unlink()
    return int(count), written
