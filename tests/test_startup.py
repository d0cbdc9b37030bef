"""Commands that need no statistics start without scipy (importing it costs seconds) or numpy
(a tenth of a second, a third of their start-up goal); `summary` also without pydantic (a
tenth of a second with its first model)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

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
    heavy = ("numpy", "scipy", "pydantic")
    seen.append({"code": code, "heavy": sorted(m for m in heavy if m in sys.modules)})
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


def probe(tmp_path: Path, *commands: list[str]) -> list[dict[str, Any]]:
    out = tmp_path / "probe.json"
    argv = [sys.executable, "-c", PROBE, str(out), json.dumps(commands)]
    subprocess.run(argv, check=True, timeout=120, capture_output=True)
    found: list[dict[str, Any]] = json.loads(out.read_text())
    return found


def test_commands_without_statistics_do_not_import_scipy_or_numpy(
    tmp_path: Path, recommended: tuple[Path, Path]
) -> None:
    store, config = recommended
    on = ["--env", "staging", "--store", str(store)]
    commands = [["--help"], ["--version"], ["summary", *on], ["history", *on]]
    commands.append(["export", "--check", str(config)])
    found = probe(tmp_path, *commands)
    # one interpreter: what a command loads stays for the ones after it (history's records
    # are pydantic models)
    assert found[:3] == [{"code": 0, "heavy": []}] * 3
    assert [f["code"] for f in found[3:]] == [0, 0]
    assert [m for f in found for m in f["heavy"] if m != "pydantic"] == []


def test_the_probe_sees_scipy_where_statistics_run(
    tmp_path: Path, recommended: tuple[Path, Path]
) -> None:
    store, _ = recommended
    found = probe(tmp_path, ["recommend", "--env", "staging", "--store", str(store)])
    assert found == [{"code": 0, "heavy": ["numpy", "pydantic", "scipy"]}]


def test_help_loads_no_model_or_frame_library() -> None:
    """`analyze --help` (and so every command's start) goes without DuckDB, pydantic, polars
    or the Google clients: each command imports them where it uses them."""
    code = (
        "import sys\nfrom analyzer.cli import main\n"
        "try:\n    main(['--help'], prog_name='analyze')\nexcept SystemExit:\n    pass\n"
        "heavy = ('duckdb', 'pydantic', 'polars', 'scipy', 'google.cloud.storage',"
        " 'google.cloud.bigquery')\n"
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


def test_summary_renders_as_pydantic_would(tmp_path: Path) -> None:
    """`summary` leaves pydantic out, but its JSON and CSV are byte for byte what pydantic
    gives for the same records (instants with `Z`, nested records, fields in order)."""
    from pydantic import TypeAdapter

    from analyzer.analysis.summary import Summary
    from tests.conftest import entry, write_ndjson

    runner = CliRunner()
    store, export = tmp_path / "lake", tmp_path / "s.jsonl.gz"
    made = runner.invoke(
        main, ["simulate", "--env", "staging", "--days", "1", "--out", str(export)]
    )
    assert made.exit_code == 0, made.output
    load = {"event": "config_loaded", "env": "staging", "outcome": "loaded", "run_id": "r1"}
    load |= {"config_path": "/srv/t.json", "generated_at": "2026-11-30T10:00:00Z"}
    loads = write_ndjson(tmp_path / "l.jsonl", [entry(load, t=n) for n in range(3)])
    for path in (export, loads):
        done = runner.invoke(main, ["import", str(path), "--env", "staging", "--store", str(store)])
        assert done.exit_code == 0, done.output
    on = ["summary", "--env", "staging", "--store", str(store)]
    shown = runner.invoke(main, [*on, "--format", "json"])
    assert shown.exit_code == 0, shown.output
    record = TypeAdapter(Summary).validate_json(shown.stdout)
    assert record.configs and record.configs[0].processes == 3
    assert record.window.start.tzinfo is not None
    assert shown.stdout.rstrip("\n") == TypeAdapter(Summary).dump_json(record, indent=2).decode()
    as_csv = runner.invoke(main, [*on, "--format", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    assert as_csv.stdout.splitlines()[0].startswith("env,service,phase,operation,vpc_state")
    assert len(as_csv.stdout.splitlines()) == 1 + len(record.phases)


_finite = st.floats(allow_nan=False, allow_infinity=False)
_float = st.one_of(
    _finite, st.floats(min_value=1e-6, max_value=1e-3), st.sampled_from([math.nan, math.inf])
)
_text = st.one_of(st.none(), st.text(max_size=12))


@given(
    counts=st.lists(st.integers(min_value=0, max_value=10**12), min_size=4, max_size=4),
    rate=st.one_of(st.none(), _float),
    service=st.text(max_size=12),
    texts=st.lists(_text, min_size=8, max_size=8),
    at=st.datetimes(timezones=st.just(UTC)),
)
@settings(max_examples=300, deadline=None)
def test_a_summary_record_prints_as_pydantic_prints_it(
    counts: list[int], rate: float | None, service: str, texts: list[str | None], at: datetime
) -> None:
    """Any values: rates as small as 1e-5 (Python writes 9.5e-05, pydantic 0.000095), NaN,
    text with quotes, control characters and other scripts, instants with microseconds."""
    from pydantic import TypeAdapter

    from analyzer.analysis.summary import ConfigLoad, ServiceStartups, Summary
    from analyzer.cli.render import json_text, plain
    from analyzer.timewindow import Window

    shown = ServiceStartups(*counts, rate, service, rate)
    load = ConfigLoad(*texts, processes=counts[0], first_ts=at, last_ts=at)
    record = Summary(
        *counts, rate, env=service, window=Window(at, at), events=counts[1],
        services=[shown, shown], phases=[], configs=[load],
    )  # fmt: skip
    assert json_text(plain(record)) == TypeAdapter(Summary).dump_json(record, indent=2).decode()
