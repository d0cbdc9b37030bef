"""Finds the log files to import and groups them into batches the importer reads in one pass."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from analyzer.errors import AnalyzerError

# What a folder search picks up (in any case): gcloud arrays, sink exports (NDJSON), gzipped
# either way.
LOG_SUFFIXES = (".json", ".jsonl", ".ndjson", ".gz")
BATCH_BYTES = 384 * 1024 * 1024
BATCH_FILES = 400


@dataclass
class Discovery:
    """The files to import, and what the folders searched held that will not be read (a FIFO,
    a broken link...), each with why."""

    files: list[Path] = field(default_factory=list)
    passed_over: list[str] = field(default_factory=list)


def discover(paths: Sequence[str | Path]) -> Discovery:
    """Every file named, and every log file under every folder named (recursively), once each.
    A suffix is matched in any case (`.JSON` too)."""
    if not paths:
        raise AnalyzerError("no PATH given: name at least one export file or folder")
    found: dict[Path, None] = {}
    passed_over: list[str] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            matches = []
            for p in sorted(path.rglob("*")):
                if not p.name.lower().endswith(LOG_SUFFIXES) or any(
                    part.startswith(".") for part in p.relative_to(path).parts
                ):
                    continue
                if p.is_dir():
                    continue
                if (problem := _not_a_file(p)) is not None:
                    passed_over.append(f"{p} ({problem})")
                    continue
                matches.append(p)
            if not matches:
                raise AnalyzerError(
                    f"{path}: no log files in this folder (looked for {', '.join(LOG_SUFFIXES)})"
                    + "".join(f"; not read: {what}" for what in passed_over)
                )
            found.update(dict.fromkeys(p.resolve() for p in matches))
        elif (problem := _not_a_file(path)) is not None:
            raise AnalyzerError(f"{path}: {problem}")
        else:
            found[path.resolve()] = None
    return Discovery(list(found), passed_over)


def _not_a_file(path: Path) -> str | None:
    """Why `path` cannot be read as an export (None for a regular file, or a link to one)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            return "a symbolic link to nothing"
        return "no such file or folder"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a loop of symbolic links"
        return exc.strerror or str(exc)
    if stat.S_ISREG(mode):
        return None
    kinds = {stat.S_ISFIFO: "a FIFO", stat.S_ISSOCK: "a socket", stat.S_ISCHR: "a device"}
    kind = next((name for test, name in kinds.items() if test(mode)), "not a regular file")
    return f"{kind}, not a regular file: name an export file or a folder"


def file_size(path: Path) -> int:
    """The size of a file about to be read, or a clear error when it has gone meanwhile."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        raise vanished(str(path)) from None


def vanished(source: str) -> AnalyzerError:
    """The error for a file deleted or moved between the search and its reading."""
    return AnalyzerError(
        f"{source}: the file disappeared during the import (deleted or moved); "
        "the files before it are imported, run the import again to go on"
    )


@dataclass(frozen=True)
class Piece:
    """What the importer reads: a whole file, or a slice of a large one copied out as a file."""

    path: Path  # the file DuckDB reads
    source: str  # what the lake's `source_file` column names: the export it came from
    size: int
    flattened: bool = False  # rewritten one entry a line (shapes.py)
    too_deep: str | None = None  # why it could not be rewritten so (shapes.TooDeep): not read


def batches(files: Sequence[Path], scratch: Path) -> Iterator[list[Piece]]:
    """Consecutive groups of files, bounded in bytes and count, so many small files become few
    segments while one batch never holds more than a bounded slice of the input.

    A file larger than a batch is read in slices of about BATCH_BYTES when it holds top-level
    objects one after another (newline-delimited, as sinks write): each slice is copied into
    `scratch` just before its batch and removed after it. Other large files (a gcloud array,
    gzip) are read whole as one batch.
    """
    batch: list[Piece] = []
    size = 0
    for path in files:
        for piece in _pieces(path, scratch):
            if batch and (size + piece.size > BATCH_BYTES or len(batch) >= BATCH_FILES):
                yield batch
                batch, size = [], 0
            batch.append(piece)
            size += piece.size
            if piece.path != path:  # a slice: a batch of its own, removed once it is read
                yield batch
                batch, size = [], 0
                piece.path.unlink()
    if batch:
        yield batch


def _pieces(path: Path, scratch: Path) -> Iterator[Piece]:
    size = file_size(path)
    if size <= BATCH_BYTES or not _objects_one_after_another(path):
        yield Piece(path, str(path), size)
        return
    scratch.mkdir(parents=True, exist_ok=True)
    with open(path, "rb") as source:
        ranges = list(_slices(source, size))

    def copy_out(number: int) -> Piece:
        start, end = ranges[number]
        piece = scratch / f"{path.name}.slice-{number + 1:04d}.json"
        with open(path, "rb") as source, open(piece, "wb") as target:
            _copy_range(source, target, start, end)
        return Piece(piece, str(path), end - start)

    # The next slice is copied out while the importer reads this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(copy_out, 0)
        for number in range(len(ranges)):
            piece = upcoming.result()
            if number + 1 < len(ranges):
                upcoming = pool.submit(copy_out, number + 1)
            yield piece


def _objects_one_after_another(path: Path) -> bool:
    if path.name.lower().endswith(".gz"):
        return False
    with open(path, "rb") as f:
        return f.read(4096).lstrip()[:1] == b"{"


# Where one top-level object ends and the next begins (newline-delimited or pretty-printed
# objects one after another; inside a JSON string a newline is always escaped). A slice starts
# at the `{`, one byte before each boundary's end.
_BOUNDARIES = (b"}\n{", b"}\r\n{")


def _slices(source: BinaryIO, size: int) -> Iterator[tuple[int, int]]:
    start = 0
    while start < size:
        end = _boundary_after(source, start + BATCH_BYTES, size)
        yield start, end
        start = end


def _boundary_after(source: BinaryIO, offset: int, size: int) -> int:
    """The offset just past the first boundary at or after `offset`, or the file's end."""
    step = 1 << 20
    while offset < size:
        source.seek(offset)
        window = source.read(step + 3)
        found = [(i, len(b)) for b in _BOUNDARIES if (i := window.find(b)) >= 0]
        if found:
            at, length = min(found)
            return offset + at + length - 1
        offset += step
    return size


def _copy_range(source: BinaryIO, target: BinaryIO, start: int, end: int) -> None:
    offset = start
    while offset < end:
        copied = os.copy_file_range(source.fileno(), target.fileno(), end - offset, offset)
        if copied == 0:
            raise AnalyzerError(f"{source.name}: the file shrank while it was read")
        offset += copied
