"""The store's writer lock: a writer that must wait says who holds the lock, and gives up after
`--lock-timeout`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from analyzer.cli import main
from analyzer.lake.store import Store
from tests.conftest import entry, write_ndjson

HOLDER = """
import sys, time
from pathlib import Path
from analyzer.lake.store import Store
with Store(Path(sys.argv[1])).writer_lock():
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold(store: Store, seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store.root), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def test_a_waiting_writer_names_the_holder_and_gives_up(tmp_path: Path, store: Store) -> None:
    holder = _hold(store, 60)
    try:
        export = write_ndjson(tmp_path / "a.jsonl", [entry({"event": "phase_started", "phase": 1})])
        started = time.monotonic()
        args = ["import", str(export), "--env", "staging", "--store", str(store.root)]
        result = CliRunner().invoke(main, [*args, "--lock-timeout", "0.5"])
        assert 0.5 <= time.monotonic() - started < 5
        assert result.exit_code == 1
        assert f"waiting for the lock of store {store.root}, held by pid {holder.pid} (" in (
            result.output
        )
        assert f"is locked by pid {holder.pid} (-c {store.root} 60) since 20" in result.output
        assert "gave up after 0.5 s (--lock-timeout)" in result.output
        assert not store.segments("events")
    finally:
        holder.kill()
        holder.wait()


def test_a_waiting_writer_goes_on_once_the_lock_is_free(tmp_path: Path, store: Store) -> None:
    holder = _hold(store, 1.0)
    try:
        export = write_ndjson(tmp_path / "a.jsonl", [entry({"event": "phase_started", "phase": 1})])
        args = ["import", str(export), "--env", "staging", "--store", str(store.root)]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        assert f"held by pid {holder.pid}" in result.output and "stored 1" in result.output
        assert (store.root / ".lock").read_text() == ""  # released, no stale holder
    finally:
        holder.wait()
