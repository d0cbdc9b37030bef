"""`compact` killed at any point, segments copied in, segments of another schema: a rerun leaves
each insert_id once, and a foreign segment is refused by name and left as it is."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from analyzer.cli import main
from analyzer.lake.compact import compact
from analyzer.lake.store import Store
from analyzer.lake.verify import verify
from tests.conftest import read_view

COLUMNS = "* EXCLUDE (source_file, ingested_at)"

# Compact in a child that SIGKILLs itself at the n-th call of Path.unlink (removing an old
# segment) or os.replace (0, 1: publishing the two days' new segments; 2, 3: rewriting the seal
# and checksum records).
CHILD = """
import os, pathlib, signal, sys
from analyzer.lake.compact import compact
from analyzer.lake.store import Store

root, target, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
calls = [0]

def killing(original):
    def call(*args, **kwargs):
        if calls[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        calls[0] += 1
        return original(*args, **kwargs)
    return call

if target == "unlink":
    pathlib.Path.unlink = killing(pathlib.Path.unlink)
else:
    os.replace = killing(os.replace)
compact(store=Store(pathlib.Path(root)), env="staging")
"""


def _one_row_per_id(store: Store) -> tuple[int, int]:
    ((rows, ids),) = read_view(store, "lake_rows", "count(*), count(DISTINCT insert_id)")
    return rows, ids


@pytest.mark.slow
@pytest.mark.parametrize(
    ("target", "nth"),
    [
        ("unlink", 0),
        ("unlink", 5),
        ("replace", 0),
        ("replace", 2),
        ("replace", 3),
    ],
)
def test_a_compact_killed_anywhere_then_rerun_keeps_each_id_once(
    small_runs: Store, target: str, nth: int
) -> None:
    store = small_runs
    before = read_view(store, "events", COLUMNS)
    child = subprocess.run([sys.executable, "-c", CHILD, str(store.root), target, str(nth)])
    assert child.returncode == -9  # it was killed where asked
    assert read_view(store, "events", COLUMNS) == before  # readers see each event once meanwhile
    compact(store=store, env="staging")
    assert _one_row_per_id(store) == (160, 160)
    assert read_view(store, "events", COLUMNS) == before
    segments = store.segments("events")
    assert len(segments) == 2 and store.all_sealed(segments)
    assert not verify(store=store).damaged
    assert set(store.checksums()) == {store.segment_key(p) for p in segments}


def test_a_copied_in_segment_is_compacted_to_one_row_per_id(small_runs: Store) -> None:
    store = small_runs
    before = read_view(store, "events", COLUMNS)
    for segment in store.segments("events")[:3]:
        shutil.copy(segment, segment.with_name("copied-" + segment.name))
    assert _one_row_per_id(store) == (220, 160)
    result = compact(store=store, env="staging")
    assert result.repeats_dropped == 60 and result.sealed_now
    assert _one_row_per_id(store) == (160, 160)
    assert read_view(store, "events", COLUMNS) == before


def _foreign_segment(store: Store) -> Path:
    """A copy of a segment with `ts` as text, in the same day."""
    source = store.segments("events")[0]
    foreign = source.with_name("foreign.parquet")
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT * REPLACE (CAST(ts AS VARCHAR) AS ts) FROM read_parquet('{source}')) "
        f"TO '{foreign}' (FORMAT parquet)"
    )
    con.close()
    return foreign


def test_a_foreign_schema_segment_is_refused_by_name_and_left_alone(small_runs: Store) -> None:
    store = small_runs
    foreign = _foreign_segment(store)
    content = foreign.read_bytes()
    day_segments = len(list(foreign.parent.glob("*.parquet")))
    result = CliRunner().invoke(main, ["compact", "--env", "staging", "--store", str(store.root)])
    assert result.exit_code == 1
    key = str(foreign.relative_to(store.root))
    assert f"refused {key}: its columns are not the lake's (ts is VARCHAR, not TIMESTAMP " in (
        result.output
    )
    assert "analyze verify --fix" in result.output
    assert foreign.read_bytes() == content
    assert day_segments > 2 and len(list(foreign.parent.glob("*.parquet"))) == 2
    assert not store.all_sealed(store.segments("events"))
    # Readers name it too; verify --fix moves it aside and the lake reads again.
    summary = CliRunner().invoke(main, ["summary", "--env", "staging", "--store", str(store.root)])
    assert summary.exit_code == 1 and key in summary.output and "analyze verify" in summary.output
    fixed = verify(store=store, fix=True)
    assert [d.segment for d in fixed.damaged] == [foreign] and not foreign.exists()
    assert fixed.moved_to and (fixed.moved_to / key).read_bytes() == content
    assert _one_row_per_id(store) == (160, 160)
    assert store.all_sealed(store.segments("events"))
    assert (
        CliRunner()
        .invoke(main, ["summary", "--env", "staging", "--store", str(store.root)])
        .exit_code
        == 0
    )
