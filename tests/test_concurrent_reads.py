"""Readers while `compact` replaces segments: each answer is over one consistent set of
segments, never an error, never an event twice."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from analyzer.analysis.summary import summarize
from analyzer.engine import local_engine
from analyzer.lake.store import Store

# Over and over: a copy of a segment put in place by hand (one rename), then a compact that
# folds it and the day's other segments into one.
COMPACT_LOOP = """
import os, shutil, sys
from pathlib import Path
from analyzer.lake.compact import compact
from analyzer.lake.store import Store

store = Store(Path(sys.argv[1]))
for n in range(int(sys.argv[2])):
    day = sorted(store.events_dir.glob("env=staging/date=*"))[n % 2]
    source = sorted(day.glob("*.parquet"))[0]
    staged = store.root / f"copy-{n}.parquet"
    shutil.copy(source, staged)
    os.replace(staged, day / f"copy-{n}.parquet")
    compact(store=store, env="staging")
    print(n, flush=True)
"""


@pytest.mark.slow
def test_summary_during_a_compact_loop_always_answers_the_same(small_runs: Store) -> None:
    store = small_runs
    engine = local_engine(store)
    assert summarize(engine=engine, env="staging").events == 160
    loop = subprocess.Popen(
        [sys.executable, "-c", COMPACT_LOOP, str(store.root), "8"],
        stdout=subprocess.PIPE,
        text=True,
    )
    answers = []
    deadline = time.monotonic() + 120
    while loop.poll() is None and time.monotonic() < deadline:
        answers.append(summarize(engine=engine, env="staging").events)
    assert loop.wait() == 0
    assert loop.stdout is not None and len(loop.stdout.read().split()) == 8
    assert len(answers) >= 5 and set(answers) == {160}
