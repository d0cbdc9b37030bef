"""The store: its layout, atomic append-only segments, the writer lock and seals."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from analyzer.errors import AnalyzerError, did_you_mean
from analyzer.lake.lock import exclusive_lock

if TYPE_CHECKING:
    from analyzer.lake.gcs import BucketLake

DEFAULT_STORE = Path("data") / "lake"
IMPORTS_LOG = "imports.jsonl"  # one line per import: its id, env and files (`forget --import`)
STORE_ENV_VAR = "ANALYZER_STORE"
CHECKSUMS_FILE = "segment-checksums.sha256"
ENV_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# `.` and `..` read as folders of their own, and DuckDB's hive partitioning reads `env=NULL`
# back as a missing value.
REFUSED_ENV = re.compile(r"\.+|(?i:null)")


def check_env_name(env: str) -> str:
    """An env names a partition folder, so it is kept to a safe alphabet, less the names a
    reader would take for something else (every command, and the normaliser, use this rule)."""
    if not ENV_NAME.fullmatch(env):
        raise AnalyzerError(
            f"invalid env {env!r}: use letters, digits, '.', '_' or '-' (at most 64)"
        )
    if REFUSED_ENV.fullmatch(env):
        raise AnalyzerError(f"invalid env {env!r}: it would not read back as the env it names")
    return env


@dataclass(frozen=True)
class Store:
    """A lake folder: `events/` (the event log), `quarantine/`, `recommendations/`.
    `lock_timeout_s`: how long a writer waits for another's lock (None: as long as it takes).
    `bucket`: for a lake in GCS, the bucket that `root` (a working copy) is kept in step with."""

    root: Path
    lock_timeout_s: float | None = None
    bucket: BucketLake | None = field(default=None, compare=False, repr=False)

    @classmethod
    def resolve(
        cls, store: str | Path | None = None, *, lock_timeout_s: float | None = None
    ) -> Store:
        """`--store`, else `$ANALYZER_STORE`, else `./data/lake`; a `gs://BUCKET/PREFIX`
        store is worked on in a local copy (see `lake.gcs`)."""
        chosen = store or os.environ.get(STORE_ENV_VAR) or DEFAULT_STORE
        if str(chosen).startswith("gs://"):
            from analyzer.lake.gcs import open_bucket_lake

            lake = open_bucket_lake(str(chosen))
            return cls(lake.working_copy, lock_timeout_s=lock_timeout_s, bucket=lake)
        return cls(Path(chosen).expanduser(), lock_timeout_s=lock_timeout_s)

    @property
    def location(self) -> str:
        """Where the store is, as messages name it: its folder, or its gs:// URL."""
        return self.bucket.url if self.bucket else str(self.root)

    @property
    def events_dir(self) -> Path:
        return self.root / "events"

    def envs(self) -> list[str]:
        """The envs the event log holds (its `env=` partition folders)."""
        if not self.events_dir.is_dir():
            return []
        return sorted(
            p.name.removeprefix("env=") for p in self.events_dir.glob("env=*") if p.is_dir()
        )

    def other_envs_hint(self, env: str) -> str:
        """For a message about a missing env: the envs there are, so a typo shows."""
        others = [e for e in self.envs() if e != env]
        if not others:
            return ""
        return f" (envs in this store: {', '.join(others)}){did_you_mean(env, others)}"

    @property
    def recommendations_dir(self) -> Path:
        return self.root / "recommendations"

    @property
    def tmp_dir(self) -> Path:
        return self.root / ".tmp"

    def segments(self, kind: str = "events") -> list[Path]:
        folder = self.root / kind
        return sorted(folder.rglob("*.parquet")) if folder.is_dir() else []

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """One writer at a time (see `lake.lock`); leftovers of a writer that died are cleared
        on entry. A lake in GCS is locked in the bucket too, and pushed when the block ends."""
        with (
            self.bucket.writer(self.lock_timeout_s) if self.bucket else nullcontext(),
            exclusive_lock(self.root, timeout_s=self.lock_timeout_s),
        ):
            try:
                shutil.rmtree(self.tmp_dir, ignore_errors=True)
                self.tmp_dir.mkdir(parents=True, exist_ok=True)
                yield
            finally:
                shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def new_staging_dir(self) -> Path:
        path = self.tmp_dir / uuid.uuid4().hex
        path.mkdir(parents=True)
        return path

    def publish(self, staged: Path, kind: str, *, seal: bool = False) -> list[Path]:
        """Move whole segment files from a staging folder into `kind/`, each by one rename.

        A crash part-way leaves whole segments only; their rows are then duplicates that the
        next import of the same input skips, and it writes the rest. Each segment's checksum
        is recorded first (see `checksums`); with `seal`, the segments are also recorded as
        sealed (see `seal`).
        """
        sources = sorted(staged.rglob("*.parquet"))
        targets = [self.root / kind / source.relative_to(staged) for source in sources]
        self.record_checksums(
            {target: file_checksum(source) for source, target in zip(sources, targets, strict=True)}
        )
        if seal:
            self.seal(targets)
        for source, target in zip(sources, targets, strict=True):
            target.parent.mkdir(parents=True, exist_ok=True)
            _fsync(source)
            os.replace(source, target)
            _fsync(target.parent)
        return targets

    @property
    def seals_path(self) -> Path:
        return self.root / "sealed-segments.txt"

    def seal(self, segments: list[Path]) -> None:
        """Record event segments whose insert_ids their writer, holding the lock, found in no
        other segment and not twice in themselves. While every segment is sealed, `events`
        needs no deduplication (see `connect`). One line per segment, appended."""
        append_line(self.seals_path, "".join(f"{self.segment_key(p)}\n" for p in segments))

    def sealed(self) -> set[str]:
        """The sealed segments (paths relative to the store), whole lines only."""
        try:
            text = self.seals_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return set()
        return set(text.splitlines()[: text.count("\n")])

    def reseal(self, segments: list[Path]) -> None:
        """Replace the record of sealed segments with these (after segments were removed)."""
        _replace(
            self.seals_path,
            "".join(f"{self.segment_key(p)}\n" for p in segments),
            scratch=self.tmp_dir,
        )

    def sealed_among(self, segments: list[Path]) -> list[Path]:
        sealed = self.sealed()
        return [p for p in segments if self.segment_key(p) in sealed]

    def all_sealed(self, segments: list[Path]) -> bool:
        return len(self.sealed_among(segments)) == len(segments)

    def segment_key(self, segment: Path) -> str:
        """How the records name a segment: its path relative to the store."""
        return str(segment.relative_to(self.root))

    @property
    def checksums_path(self) -> Path:
        return self.root / CHECKSUMS_FILE

    def record_checksums(self, checksums: dict[Path, str]) -> None:
        """Append segments' SHA-256 (as `sha256sum` writes them: `sha256sum -c` checks them
        from the store's folder), before the segments are published."""
        append_line(
            self.checksums_path,
            "".join(f"{digest}  {self.segment_key(p)}\n" for p, digest in checksums.items()),
        )

    def checksums(self) -> dict[str, str]:
        """The recorded checksum of each segment (by `segment_key`), whole lines only; the
        last line for a segment wins."""
        try:
            text = self.checksums_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        found = {}
        for line in text.splitlines()[: text.count("\n")]:
            digest, _, key = line.partition("  ")
            if len(digest) == 64 and key:
                found[key] = digest
        return found

    def keep_checksums(self, segments: list[Path]) -> None:
        """Forget the checksums of segments that are gone (after segments were removed)."""
        recorded = self.checksums()
        kept = [(self.segment_key(p), recorded.get(self.segment_key(p))) for p in segments]
        text = "".join(f"{d}  {k}\n" for k, d in kept if d)
        _replace(self.checksums_path, text, scratch=self.tmp_dir)


def file_checksum(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def append_line(path: Path, text: str) -> None:
    """Append whole lines to a record file, on disk before this returns."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _replace(path: Path, text: str, *, scratch: Path) -> None:
    """Write `path` anew in one rename (a crash leaves the old text or the new); staged in
    `scratch`, the writer's folder that the next writer clears."""
    staged = scratch / f"{path.name}.{uuid.uuid4().hex}"
    staged.write_text(text, encoding="utf-8")
    _fsync(staged)
    os.replace(staged, path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def segment_pattern() -> str:
    """File names that sort by time of writing: `seg_<UTC time>_<uuid>`."""
    return "seg_" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "_{uuid}"
