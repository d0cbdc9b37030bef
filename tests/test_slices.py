"""A file larger than a batch is read in slices: the lake ends up as if it had been read whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import analyzer.ingest.sources as sources
from analyzer.ingest import import_paths
from analyzer.ingest.sources import batches
from analyzer.lake.store import Store
from tests.conftest import entry, read_view, write_array, write_ndjson

SLICE_BYTES = 2048


def _entries(count: int) -> list[dict]:
    return [
        entry({"event": "phase_started", "phase": 1 + n % 5}, t=n, instance=f"inst-{n}")
        for n in range(count)
    ] + [entry("Uvicorn running on http://0.0.0.0:8080", t=n) for n in range(20)]


def _write_pretty(path: Path, entries: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e, indent=2) + "\n" for e in entries))
    return path


def _write_crlf(path: Path, entries: list[dict]) -> Path:
    path.write_bytes(b"".join(json.dumps(e).encode() + b"\r\n" for e in entries))
    return path


def _lake(store: Store) -> list[tuple[object, ...]]:
    return read_view(store, "lake_rows", "* EXCLUDE (ingested_at)")


@pytest.mark.parametrize(
    ("name", "write", "count", "sliced"),
    [
        ("sink.json", write_ndjson, 120, True),
        ("crlf.jsonl", _write_crlf, 120, True),
        ("pretty.json", _write_pretty, 60, True),
        ("gcloud.json", write_array, 120, False),
        ("sink.json.gz", write_ndjson, 400, False),
    ],
)
def test_a_large_file_read_in_slices_fills_the_lake_as_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, write, count: int, sliced: bool
) -> None:
    path = write(tmp_path / name, _entries(count))
    assert path.stat().st_size > SLICE_BYTES
    whole = Store(tmp_path / "whole")
    import_paths([path], env="staging", store=whole)

    monkeypatch.setattr(sources, "BATCH_BYTES", SLICE_BYTES)
    scratch = tmp_path / "scratch"
    pieces = [[(p.path, p.source, p.size) for p in batch] for batch in batches([path], scratch)]
    assert (len(pieces) > 3) == sliced
    assert {source for batch in pieces for _, source, _ in batch} == {str(path)}
    assert not any(scratch.glob("*"))  # each slice is removed once read

    in_slices = Store(tmp_path / "in-slices")
    result = import_paths([path], env="staging", store=in_slices)
    assert result.files == 1 and result.stored == count and result.skipped == 20
    assert _lake(in_slices) == _lake(whole)
    assert not any(in_slices.tmp_dir.glob("*"))


def test_slices_cover_the_file_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_ndjson(tmp_path / "sink.json", _entries(200))
    monkeypatch.setattr(sources, "BATCH_BYTES", SLICE_BYTES)
    copies = []
    for batch in batches([path], tmp_path / "scratch"):
        (piece,) = batch
        text = piece.path.read_bytes()
        assert text.startswith(b"{") and text.endswith(b"}\n")
        copies.append(text)
    assert b"".join(copies) == path.read_bytes()
    assert all(len(c) >= SLICE_BYTES for c in copies[:-1])


def test_a_bad_slice_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_ndjson(tmp_path / "sink.json", _entries(60))
    with open(path, "a") as f:
        f.write('{"insertId": "cut", "timestamp": "2026-10-01T1\n')
    monkeypatch.setattr(sources, "BATCH_BYTES", SLICE_BYTES)
    from analyzer.errors import AnalyzerError

    with pytest.raises(AnalyzerError, match=f"^{path}: cannot read as Cloud Logging JSON"):
        import_paths([path], env="staging", store=Store(tmp_path / "lake"))
