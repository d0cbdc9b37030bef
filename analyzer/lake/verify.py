"""`analyze verify`: find the lake's damaged segments, name them, and move them aside on request.

A segment is damaged when it is not a Parquet file (empty, truncated, random bytes), when its
columns are not the lake's (`queries/lake_schema.sql`), when it cannot be read to the end, or
when its bytes no longer match the checksum recorded as it was published (bit rot, or a file
overwritten by hand). Readers and writers run the quick checks (the first two) when DuckDB
fails, so their error names the file; only `verify` reads every byte.

The checksum record can rot too. A segment whose bytes differ from its record but whose footer,
columns and every value read whole is only suspect (the record or the file changed; DuckDB's
Parquet has no page checksums to tell which), and a record that condemns every segment it
names is itself suspect. `--fix` moves suspects only with `--yes`, and never moves more than
half of the segments without it: a damaged record must not empty the lake.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import duckdb

from analyzer.errors import AnalyzerError
from analyzer.lake.connection import new_connection
from analyzer.lake.lock import segment_swap
from analyzer.lake.sql import load_sql
from analyzer.lake.store import CHECKSUMS_FILE, Store, file_checksum

PARQUET_MAGIC = b"PAR1"
KINDS = ("events", "quarantine")
NOT_WHOLE = "not a whole Parquet file"


@dataclass(frozen=True)
class Damage:
    segment: Path
    reason: str
    suspect: bool = False  # only its checksum differs: it reads whole


@dataclass
class VerifyResult:
    segments: int = 0
    with_checksum: int = 0
    damaged: list[Damage] = field(default_factory=list)
    suspect: list[Damage] = field(default_factory=list)
    moved_to: Path | None = None
    fix_refused: str | None = None  # why --fix moved nothing

    @property
    def record_suspect(self) -> bool:
        """The checksum record condemns every segment it names, and they all read whole."""
        return len(self.suspect) > 1 and len(self.suspect) == self.with_checksum

    def summary_line(self) -> str:
        line = (
            f"verified {self.segments:,} segments ({self.with_checksum:,} against their "
            f"checksums): {len(self.damaged)} damaged"
        )
        if self.suspect:
            line += f", {len(self.suspect)} suspect (only their checksum differs)"
            if self.record_suspect:
                line += (
                    "; the checksum record condemns every segment it names while each reads "
                    f"whole: the record ({CHECKSUMS_FILE}) is the suspect"
                )
        if self.moved_to is not None:
            line += f", moved aside to {self.moved_to}"
        elif self.damaged and self.fix_refused is None:
            line += "; run `analyze verify --fix` to move them aside"
        return line


MASS_MOVE_SHARE = 0.5  # --fix moves more than this share of the segments only with --yes


def deep_check(
    con: duckdb.DuckDBPyConnection, segment: Path, kind: str, recorded: str | None
) -> Damage | None:
    """`quick_check`, the recorded checksum, then every value read. A checksum that differs
    damns a segment that also fails a read (an unreadable footer or foreign columns then read
    as bit rot); one that reads whole is only suspect."""
    problem = quick_check(con, segment, kind)
    if problem and problem.startswith(NOT_WHOLE):
        return Damage(segment, problem)
    try:
        differs = recorded is not None and file_checksum(segment) != recorded
    except FileNotFoundError:
        return None
    except OSError as exc:
        return Damage(segment, f"cannot be read ({exc.strerror})")
    if differs and problem:
        return Damage(segment, f"{ROT} (bit rot?)")
    if problem:
        return Damage(segment, problem)
    try:
        con.execute(
            "SELECT count(*) FROM read_parquet(?) WHERE hash(COLUMNS(*)) IS NOT NULL",
            [str(segment)],
        ).fetchall()
    except duckdb.Error as exc:
        if not segment.exists():
            return None
        if differs:
            return Damage(segment, f"{ROT}, and it cannot be read to the end ({_first_line(exc)})")
        return Damage(segment, f"cannot be read to the end ({_first_line(exc)})")
    if differs:
        return Damage(
            segment,
            f"{ROT}, but its footer, columns and every value read whole: the record or the "
            "file changed",
            suspect=True,
        )
    return None


ROT = "its bytes differ from the checksum recorded when it was written"


@cache
def lake_columns() -> tuple[tuple[str, str], ...]:
    """The lake's columns and DuckDB types, as `queries/lake_schema.sql` declares them."""
    con = new_connection()
    try:
        rows = con.execute("DESCRIBE " + load_sql("lake_schema")).fetchall()
    finally:
        con.close()
    return tuple((str(r[0]), str(r[1])) for r in rows)


def quick_check(con: duckdb.DuckDBPyConnection, segment: Path, kind: str) -> str | None:
    """Why the segment cannot be part of the lake, from its ends and its footer; None if it
    looks whole."""
    try:
        size = segment.stat().st_size
        with segment.open("rb") as f:
            head = f.read(4)
            f.seek(max(size - 4, 0))
            tail = f.read(4)
    except FileNotFoundError:
        return None  # removed meanwhile (a compact): nothing to say about it
    except OSError as exc:
        return f"cannot be opened ({exc.strerror})"
    if size < 12 or head != PARQUET_MAGIC or tail != PARQUET_MAGIC:
        return f"{NOT_WHOLE} ({size:,} bytes; empty, truncated or overwritten)"
    try:
        found = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(segment)]).fetchall()
    except duckdb.Error as exc:
        return f"its footer cannot be read ({_first_line(exc)})" if segment.exists() else None
    if kind == "events":
        return schema_difference(tuple((str(r[0]), str(r[1])) for r in found))
    return None


def schema_difference(found: Sequence[tuple[str, str]]) -> str | None:
    """How `found` columns differ from the lake's, or None."""
    expected = dict(lake_columns())
    have = dict(found)
    problems = [
        f"{name} is {have[name]}, not {kind}"
        for name, kind in expected.items()
        if name in have and have[name] != kind
    ]
    missing = [name for name in expected if name not in have]
    extra = [name for name in have if name not in expected]
    if missing:
        problems.append("no " + ", ".join(missing))
    if extra:
        problems.append("unknown column(s) " + ", ".join(extra))
    return f"its columns are not the lake's ({'; '.join(problems)})" if problems else None


def find_damaged(
    store: Store, segments: Sequence[Path], *, kind: str = "events", deep: bool = False
) -> list[Damage]:
    """The damaged ones among `segments` of `kind`."""
    recorded = store.checksums() if deep else {}
    con = new_connection()
    try:
        found = []
        for segment in segments:
            key = store.segment_key(segment)
            if deep:
                damage = deep_check(con, segment, kind, recorded.get(key))
            else:
                problem = quick_check(con, segment, kind)
                damage = Damage(segment, problem) if problem else None
            if damage:
                found.append(damage)
        return found
    finally:
        con.close()


def damage_error(store: Store, damaged: Sequence[Damage]) -> AnalyzerError:
    first = damaged[0]
    more = f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
    return AnalyzerError(
        f"segment {store.segment_key(first.segment)} of store {store.location} is damaged: "
        f"{first.reason}{more}; run `analyze verify --store {store.location}` to list them and "
        "`analyze verify --fix` to move them aside"
    )


@contextlib.contextmanager
def naming_damaged_segments(store: Store) -> Iterator[None]:
    """A DuckDB error inside the block becomes one that names the damaged segment, when the
    quick checks find one (else it passes unchanged)."""
    try:
        yield
    except duckdb.Error:
        damaged = [
            d for kind in KINDS for d in find_damaged(store, store.segments(kind), kind=kind)
        ]
        if damaged:
            raise damage_error(store, damaged) from None
        raise


def verify(*, store: Store, fix: bool = False, yes: bool = False) -> VerifyResult:
    """Check every segment of the store (every byte); with `fix`, move the damaged ones (and
    with `yes` the suspect ones too) to `STORE/damaged/<time>/`, keeping their paths, and
    forget their seals and checksums. Without `yes`, `fix` moves nothing when that would be
    more than half of the segments (`fix_refused` says so)."""
    with store.writer_lock() if fix else contextlib.nullcontext():
        result = VerifyResult()
        recorded = store.checksums()
        for kind in KINDS:
            segments = store.segments(kind)
            result.segments += len(segments)
            result.with_checksum += sum(store.segment_key(p) in recorded for p in segments)
            for damage in find_damaged(store, segments, kind=kind, deep=True):
                (result.suspect if damage.suspect else result.damaged).append(damage)
        moving = [d.segment for d in result.damaged + (result.suspect if yes else [])]
        if fix and moving:
            if len(moving) > 1 and len(moving) > MASS_MOVE_SHARE * result.segments and not yes:
                result.fix_refused = (
                    f"verify --fix would move {len(moving):,} of the {result.segments:,} "
                    f"segments of store {store.location} aside, so it moved none: read what "
                    "they are damaged by (a damaged disk, a restore gone wrong?), then add "
                    "--yes to move them"
                )
            else:
                result.moved_to = _move_aside(store, moving)
    return result


def _move_aside(store: Store, segments: list[Path]) -> Path:
    folder = store.root / "damaged" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    with segment_swap(store.root):
        for segment in segments:
            target = folder / segment.relative_to(store.root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(segment, target)
    # Fewer segments repeat no more ids than before: the seals of the rest still hold.
    remaining = [p for kind in KINDS for p in store.segments(kind)]
    store.reseal(store.sealed_among(remaining))
    store.keep_checksums(remaining)
    return folder


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
