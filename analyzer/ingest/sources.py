"""Finds the log files to import and groups them into batches the importer reads in one pass."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from analyzer.errors import AnalyzerError

# What a folder search picks up: gcloud arrays, sink exports (NDJSON), gzipped either way.
LOG_SUFFIXES = (".json", ".jsonl", ".ndjson", ".gz")
BATCH_BYTES = 256 * 1024 * 1024
BATCH_FILES = 400


def discover(paths: Sequence[str | Path]) -> list[Path]:
    """Every file named, and every log file under every folder named (recursively), once each."""
    if not paths:
        raise AnalyzerError("no PATH given: name at least one export file or folder")
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            matches = [
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and p.name.endswith(LOG_SUFFIXES)
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            ]
            if not matches:
                raise AnalyzerError(
                    f"{path}: no log files in this folder (looked for {', '.join(LOG_SUFFIXES)})"
                )
            found.update(dict.fromkeys(p.resolve() for p in matches))
        elif path.is_file():
            found[path.resolve()] = None
        else:
            raise AnalyzerError(f"{path}: no such file or folder")
    return list(found)


def batches(files: Sequence[Path]) -> Iterator[list[Path]]:
    """Consecutive groups of files, bounded in bytes and count, so many small files become few
    segments while one batch never holds more than a bounded slice of the input."""
    batch: list[Path] = []
    size = 0
    for path in files:
        file_size = path.stat().st_size
        if batch and (size + file_size > BATCH_BYTES or len(batch) >= BATCH_FILES):
            yield batch
            batch, size = [], 0
        batch.append(path)
        size += file_size
    if batch:
        yield batch
