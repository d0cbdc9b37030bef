"""Readers while `compact` replaces segments: each answer is over one consistent set of
segments, never an error, never an event twice."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from analyzer.analysis.summary import summarize
from analyzer.engine import local_engine
from analyzer.lake.store import Store

# Over and over: a copy of a segment put in place by hand (one rename), then a compact that
# folds it and the day's other segments into one.
COMPACT_LOOP = """
import os, shutil, sys
from pathlib import Path
from typing import Any
from analyzer.lake.compact import compact
from analyzer.lake.store import Store

store, stop = Store(Path(sys.argv[1])), Path(sys.argv[2])
n = 0
while not stop.exists() and n < 500:
    day = sorted(store.events_dir.glob("env=staging/date=*"))[n % 2]
    source = sorted(day.glob("*.parquet"))[0]
    staged = store.root / f"copy-{n}.parquet"
    shutil.copy(source, staged)
    os.replace(staged, day / f"copy-{n}.parquet")
    compact(store=store, env="staging")
    n += 1
    print(n, flush=True)
"""


@pytest.mark.slow
def test_summary_during_a_compact_loop_always_answers_the_same(small_runs: Store) -> None:
    store = small_runs
    engine = local_engine(store)
    assert summarize(engine=engine, env="staging").events == 160
    stop = store.root.parent / "stop-compacting"
    loop = subprocess.Popen(
        [sys.executable, "-c", COMPACT_LOOP, str(store.root), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    # Read while the loop compacts, however fast either side runs on a busy machine: 12
    # answers, all of them while it is still going, then tell it to stop.
    assert loop.stdout is not None and loop.stdout.readline().strip() == "1"  # it is going
    answers = []
    deadline = time.monotonic() + 120
    while len(answers) < 12 and loop.poll() is None and time.monotonic() < deadline:
        answers.append(summarize(engine=engine, env="staging").events)
    stop.touch()
    assert loop.wait(timeout=120) == 0
    assert len(loop.stdout.read().split()) >= 1  # compacts ran while it read
    assert len(answers) == 12 and set(answers) == {160}


def test_a_question_after_an_import_reads_the_new_segments(small_runs: Store) -> None:
    """The engine reuses its connection while the listing is unchanged; a new segment is a new
    listing, read at once."""
    from analyzer.ingest import import_paths
    from tests.conftest import entry, write_ndjson

    engine, store = local_engine(small_runs), small_runs
    assert summarize(engine=engine, env="staging").events == 160
    assert summarize(engine=engine, env="staging").events == 160
    rows = [entry({"event": "phase_started", "phase": 2}, t=100 + i) for i in range(5)]
    import_paths([write_ndjson(store.root.parent / "more.jsonl", rows)], env="staging", store=store)
    assert summarize(engine=engine, env="staging").events == 165


def test_the_windows_attempts_twice_over_one_connection(recommended_store: Path) -> None:
    engine = local_engine(Store(recommended_store))
    window = summarize(engine=engine, env="staging").window
    params = {"env": "staging", "start": window.start, "end": window.end}
    (keys, numbers), (again, _) = engine.attempt_columns(params), engine.attempt_columns(params)
    assert keys == again and len(keys) > 3 and len(numbers["gid"]) > 100


COMPACT_ONCE = """
import os, shutil, sys
from pathlib import Path
from typing import Any
from analyzer.lake.compact import compact
from analyzer.lake.store import Store

store, n = Store(Path(sys.argv[1])), int(sys.argv[2])
day = sorted(store.events_dir.glob("env=staging/date=*"))[n % 2]
source = sorted(day.glob("*.parquet"))[0]
shutil.copy(source, store.root / "copy.parquet")
os.replace(store.root / "copy.parquet", day / f"copy-{n}.parquet")
result = compact(store=store, env="staging")
assert result.segments_before > result.segments_after, result
"""


def test_a_compact_in_the_middle_of_every_read_changes_nothing_it_reads(
    small_runs: Store,
) -> None:
    """The worst race, every time: each question's segments are all replaced after they were
    listed and before they are read (a retry over a new listing would lose every round)."""
    store, engine = small_runs, local_engine(small_runs)
    rounds = iter(range(100))

    def events_while_a_compact_runs(con: Any) -> int:
        compact_once = [sys.executable, "-c", COMPACT_ONCE, str(store.root), str(next(rounds))]
        subprocess.run(compact_once, check=True, timeout=120)
        ((events,),) = con.execute("SELECT count(*) FROM events").fetchall()
        return int(events)

    assert [engine.ask(events_while_a_compact_runs) for _ in range(3)] == [160, 160, 160]
    assert len(store.segments("events")) == 2  # compacted: one a day
    assert len(list((store.root / ".readers").iterdir())) == 1  # the idle connection's only


@pytest.mark.slow
def test_summary_commands_while_compact_loops_all_answer_the_same(small_runs: Store) -> None:
    """`analyze summary` processes beside a process compacting over and over (10 of 15 used
    to end in `No files found that match the pattern`, exit 70)."""
    store = small_runs
    stop = store.root.parent / "stop-compacting"
    loop = subprocess.Popen(
        [sys.executable, "-c", COMPACT_LOOP, str(store.root), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    summary = [sys.executable, "-c", "from analyzer.cli import main; main()", "summary"]
    summary += ["--env", "staging", "--store", str(store.root), "--format", "json"]
    try:
        assert loop.stdout is not None and loop.stdout.readline().strip() == "1"  # it is going
        answers = []
        deadline = time.monotonic() + 120
        while len(answers) < 8 and time.monotonic() < deadline:
            pair = [subprocess.Popen(summary, stdout=subprocess.PIPE, stderr=subprocess.PIPE)]
            pair.append(subprocess.Popen(summary, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
            for reader in pair:
                out, err = reader.communicate(timeout=60)
                assert reader.returncode == 0, err.decode()
                answers.append(json.loads(out)["events"])
        assert loop.poll() is None, "the compacts ended before the reads did"
    finally:
        stop.touch()
        loop.wait(timeout=120)
    assert answers == [160] * 8
