"""The two distributions: the analyzer's wheel carries the SQL of queries/ and depends on the
runtime's; the runtime's wheel holds `analyzer.runtime` alone, with no dependency, and works in
an environment that has nothing else."""

from __future__ import annotations

import email.parser
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "analyzer" / "runtime"


def build_wheel(project: Path, out: Path) -> Path:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(out), str(project)],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("*.whl")
    return wheel


def metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(archive.read(name).decode())


@pytest.mark.slow
def test_wheel_ships_queries_and_depends_on_the_runtime(tmp_path: Path) -> None:
    wheel = build_wheel(ROOT, tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    for sql in (ROOT / "queries").glob("*.sql"):
        assert f"analyzer/queries/{sql.name}" in names
    assert "analyzer/cli/__init__.py" in names
    assert not [n for n in names if n.startswith("analyzer/runtime/")]
    version = tomllib.loads((RUNTIME / "pyproject.toml").read_text())["project"]["version"]
    assert f"analyzer-runtime=={version}" in metadata(wheel).get_all("Requires-Dist", [])


# Run inside the clean environment: the calculator with a config, and the breaker opening.
IN_THE_SERVICE = """
import json, os, sys, tempfile
import analyzer, analyzer.runtime
from analyzer.runtime import (
    CircuitBreaker, CircuitOpenError, get_capacity_aware_database_timeout, load_config,
)
assert analyzer.__file__ is None, analyzer.__file__  # a namespace: no analyzer/__init__.py
print(get_capacity_aware_database_timeout("staging", "initialization", "pressure"))
config = {"schema_version": 2, "env": "staging", "timeouts": [
    {"phase": 3, "operation": "initialization", "vpc_state": "pressure", "timeout_s": 83.0}],
    "breaker": {"failure_threshold": 5, "recovery_timeout_s": 30.0, "half_open_max_calls": 1}}
path = os.path.join(tempfile.mkdtemp(), "timeouts.json")
with open(path, "w") as f:
    json.dump(config, f)
load_config(path)
print(get_capacity_aware_database_timeout("staging", "initialization", "pressure"))
breaker = CircuitBreaker(failure_threshold=2, recovery_timeout_s=30.0, half_open_max_calls=1)
for _ in range(2):
    try:
        with breaker.calling(operation="connection"):
            raise ConnectionError("refused")
    except ConnectionError:
        pass
try:
    with breaker.calling(operation="connection"):
        pass
except CircuitOpenError as exc:
    print(exc.state)
import importlib.metadata as md
print(sorted(d.metadata["Name"] for d in md.distributions()))
print(sorted({m.split(".")[0] for m in sys.modules} & {"pydantic", "polars", "duckdb", "google"}))
"""


@pytest.mark.slow
def test_the_runtime_wheel_installs_alone_and_runs(tmp_path: Path) -> None:
    wheel = build_wheel(RUNTIME, tmp_path / "dist")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "analyzer/runtime/calculator.py" in names and "analyzer/__init__.py" not in names
    assert not [n for n in names if not n.startswith(("analyzer/runtime/", "analyzer_runtime-"))]
    assert metadata(wheel).get_all("Requires-Dist") is None
    venv = tmp_path / "service-venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True
    )
    python = venv / "bin" / "python"
    subprocess.run(
        [
            shutil.which("uv") or "uv",
            "pip",
            "install",
            "--python",
            str(python),
            "--no-index",
            "--no-cache",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    done = subprocess.run(
        [str(python), "-I", "-c", IN_THE_SERVICE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines() == [
        "95.0",  # the seed's 75 s plus its 20 s scaling buffer
        "83.0",  # the config's value
        "OPEN",
        "['analyzer-runtime']",
        "[]",
    ], done.stderr
