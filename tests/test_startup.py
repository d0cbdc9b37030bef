"""Commands that need no statistics start without scipy (importing it costs seconds) or numpy
(a tenth of a second, a third of their start-up goal)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer.cli import main

# Runs commands one after another as `analyze` would, and after each writes its exit code and
# the heavy modules loaded so far: one interpreter for all of them keeps the test quick.
PROBE = """
import json, sys
from analyzer.cli import main
seen = []
for argv in json.loads(sys.argv[2]):
    code = 0
    try:
        main(argv, prog_name="analyze")
    except SystemExit as exc:
        code = exc.code
    seen.append({"code": code, "heavy": sorted(m for m in ("numpy", "scipy") if m in sys.modules)})
with open(sys.argv[1], "w") as f:
    json.dump(seen, f)
"""


@pytest.fixture
def recommended(recommended_store: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The store with one recommendation, and its exported config."""
    config = tmp_path / "t.json"
    on = ["--env", "staging", "--store", str(recommended_store)]
    result = CliRunner().invoke(main, ["export", *on, "--out", str(config)])
    assert result.exit_code == 0, result.output
    return recommended_store, config


def probe(tmp_path: Path, *commands: list[str]) -> list[dict[str, object]]:
    out = tmp_path / "probe.json"
    argv = [sys.executable, "-c", PROBE, str(out), json.dumps(commands)]
    subprocess.run(argv, check=True, timeout=120, capture_output=True)
    found: list[dict[str, object]] = json.loads(out.read_text())
    return found


def test_commands_without_statistics_do_not_import_scipy_or_numpy(
    tmp_path: Path, recommended: tuple[Path, Path]
) -> None:
    store, config = recommended
    on = ["--env", "staging", "--store", str(store)]
    commands = [["--help"], ["--version"], ["summary", *on], ["history", *on]]
    commands.append(["export", "--check", str(config)])
    assert probe(tmp_path, *commands) == [{"code": 0, "heavy": []}] * len(commands)


def test_the_probe_sees_scipy_where_statistics_run(
    tmp_path: Path, recommended: tuple[Path, Path]
) -> None:
    store, _ = recommended
    found = probe(tmp_path, ["recommend", "--env", "staging", "--store", str(store)])
    assert found == [{"code": 0, "heavy": ["numpy", "scipy"]}]


def test_help_loads_no_model_or_frame_library() -> None:
    """`analyze --help` (and so every command's start) goes without pydantic, polars or the
    Google clients: each command imports them where it uses them."""
    code = (
        "import sys\nfrom analyzer.cli import main\n"
        "try:\n    main(['--help'], prog_name='analyze')\nexcept SystemExit:\n    pass\n"
        "heavy = ('pydantic', 'polars', 'scipy', 'google.cloud.storage', 'google.cloud.bigquery')\n"
        "print('HEAVY:' + ' '.join(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "HEAVY:", done.stdout


def test_summary_asks_its_questions_over_one_database(
    recommended: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a DuckDB database costs some 30 ms, more than each of summary's questions:
    they share one."""
    import duckdb

    opened = []
    real_connect = duckdb.connect

    def counted(*args: object, **kwargs: object) -> duckdb.DuckDBPyConnection:
        opened.append(args)
        return real_connect(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(duckdb, "connect", counted)
    store, _ = recommended
    result = CliRunner().invoke(main, ["summary", "--env", "staging", "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert "startups" in result.output
    assert len(opened) == 1
