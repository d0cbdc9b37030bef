"""An import killed part-way leaves whole segments only, and running it again completes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from tests.conftest import entry, read_view, write_ndjson

# Imports one file per batch, so a kill can fall between two published segments.
CHILD = """
import sys
from pathlib import Path
import analyzer.ingest.sources as sources
sources.BATCH_FILES = 1
from analyzer.ingest import import_paths
from analyzer.lake.store import Store
import_paths([Path(sys.argv[1])], env="staging", store=Store(Path(sys.argv[2])))
"""


def _exports(folder: Path, files: int = 40, per_file: int = 200) -> Path:
    for n in range(files):
        write_ndjson(
            folder / f"part-{n:03d}.jsonl",
            [
                entry(
                    {"event": "phase_started", "phase": 1 + i % 5},
                    t=n * 1000 + i,
                    instance=f"inst-{n}-{i}",
                )
                for i in range(per_file)
            ],
        )
    return folder


def _contents(store: Store) -> list[tuple[object, ...]]:
    return read_view(store, "lake_rows", "insert_id, ts, env, startup_id, event, phase")


@pytest.mark.slow
def test_sigkill_then_rerun_equals_one_uninterrupted_import(tmp_path: Path) -> None:
    exports = _exports(tmp_path / "exports")
    reference = Store(tmp_path / "reference")
    import_paths([exports], env="staging", store=reference)

    crashed = Store(tmp_path / "crashed")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(exports), str(crashed.root)])
    deadline = time.monotonic() + 60
    while not crashed.segments("events") and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    partial = _contents(crashed)
    # Whole segments only: every stored row is one the uninterrupted import stored too.
    assert 0 < len(partial) < 40 * 200
    assert set(partial) <= set(_contents(reference))

    result = import_paths([exports], env="staging", store=crashed)
    assert result.stored + result.duplicates == 40 * 200
    assert _contents(crashed) == _contents(reference)
    assert not (crashed.tmp_dir).exists() or not any(crashed.tmp_dir.iterdir())
