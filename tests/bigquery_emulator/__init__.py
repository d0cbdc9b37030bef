"""A BigQuery emulator on 127.0.0.1 for the engine's tests: bqemulator (REST API of BigQuery,
DuckDB underneath), run from an environment of its own (its pins clash with ours, and it
registers a pytest plugin), made once with uv from `requirements.txt` in the user's cache folder.

The emulator translates GoogleSQL into DuckDB's dialect and runs it; it accepts SQL BigQuery
would refuse, so it shows the client wiring and the numbers, never that the SQL is valid
(tests/test_bigquery_sql.py does that with Google's analyzer)."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = "emulated-project"


class EmulatorUnavailable(Exception):
    """The emulator could not be installed or started here (the reason says why)."""


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "analyzer-tests"


def emulator_python() -> Path:
    """The emulator environment's interpreter, made first if missing or out of date."""
    requirements = HERE / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    venv = _cache_dir() / f"bqemulator-{digest}"
    python = venv / "bin" / "python"
    if (venv / ".complete").exists():
        return python
    # test workers running side by side (pytest-xdist) make it once: the others wait for it
    _cache_dir().mkdir(parents=True, exist_ok=True)
    with (_cache_dir() / f"bqemulator-{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / ".complete").exists():
            _make_environment(venv, python, requirements)
    return python


def _make_environment(venv: Path, python: Path, requirements: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        raise EmulatorUnavailable("uv is not on PATH (needed to make the emulator's environment)")
    shutil.rmtree(venv, ignore_errors=True)
    for command in (
        [uv, "venv", "-q", "-p", sys.executable, str(venv)],
        [uv, "pip", "install", "-q", "-p", str(python), "-r", str(requirements)],
    ):
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise EmulatorUnavailable(f"{' '.join(command[:3])} failed: {' / '.join(tail)}")
    (venv / ".complete").touch()


LISTENING = re.compile(rb"^LISTENING (\d+)$", re.M)


@contextmanager
def running_emulator(log: Path) -> Iterator[str]:
    """The endpoint (http://127.0.0.1:PORT) of an emulator started for the block."""
    python = emulator_python()
    command = [
        str(python),
        str(HERE / "launch.py"),
        "start",
        "--rest-port",
        "0",  # the system's choice, which launch.py reports
        "--grpc-port",
        "0",
        "--project",
        PROJECT,
        "--log-level",
        "warning",
    ]
    # the avro extension would be downloaded at start; no test loads Avro
    env = {**os.environ, "BQEMU_ENABLE_FORMAT_EXTENSIONS": "false"}
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 90
        while not (listening := LISTENING.search(log.read_bytes())):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace").strip().splitlines()[-3:]
                raise EmulatorUnavailable(f"bqemulator did not start: {' / '.join(tail)}")
            time.sleep(0.2)
        endpoint = f"http://127.0.0.1:{int(listening[1])}"
        with urllib.request.urlopen(
            f"{endpoint}/bigquery/v2/projects/{PROJECT}/datasets", timeout=10
        ):
            pass  # it answers
        yield endpoint
    finally:
        process.terminate()
        try:
            # it waits on the clients' idle kept-alive connections before it stops: nothing of
            # it outlives the block, so a short wait, then the kill
            process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
