"""The `analyze` commands, driven through click as a user would run them."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from analyzer.cli import main
from tests.conftest import entry, write_ndjson


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
    return found


@pytest.mark.parametrize("path", _commands(main), ids=" ".join)
def test_every_command_teaches_with_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert "analyze " + " ".join(path) in result.output


def test_import_then_summary_json(tmp_path: Path) -> None:
    store = str(tmp_path / "lake")
    export = write_ndjson(
        tmp_path / "e.jsonl",
        [
            entry({"event": "startup_started"}, t=0),
            entry({"event": "phase_started", "phase": 3, "vpc_state": "pressure"}, t=1),
            entry(
                {"event": "phase_failed", "phase": 3, "outcome": "timeout", "duration_s": 20.0},
                t=21,
            ),
            entry({"event": "startup_failed", "exit_code": 3}, t=21),
            entry("GET / 200", t=22),
            entry({"event": "phase_started", "phase": "x"}, t=23),
        ],
    )
    runner = CliRunner()
    imported = runner.invoke(main, ["import", str(export), "--env", "staging", "--store", store])
    assert imported.exit_code == 0, imported.output
    assert (
        "read 6 entries from 1 file(s): stored 4 in env staging, duplicates 0, " in imported.output
    )
    assert "skipped 1 (not telemetry), quarantined 1" in imported.output
    assert "phase is not an integer" in imported.output

    shown = runner.invoke(
        main, ["summary", "--env", "staging", "--store", store, "--format", "json"]
    )
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert set(data) >= {"env", "window", "events", "startups", "services", "phases"}
    assert set(data["window"]) == {"start", "end"}
    assert (data["env"], data["events"], data["startups"]) == ("staging", 4, 1)
    assert data["phases"] == [
        {
            "service": "backend",
            "phase": 3,
            "operation": "initialization",
            "vpc_state": "pressure",
            "attempts": 1,
            "completed": 0,
            "timed_out": 1,
            "errors": 0,
            "incomplete": 0,
        }
    ]


def test_store_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANALYZER_STORE", str(tmp_path / "from-env"))
    export = write_ndjson(tmp_path / "e.jsonl", [entry({"event": "startup_started"})])
    assert CliRunner().invoke(main, ["import", str(export), "--env", "staging"]).exit_code == 0
    assert list((tmp_path / "from-env" / "events").rglob("*.parquet"))


def test_bad_input_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[{]")
    result = CliRunner().invoke(
        main, ["import", str(bad), "--env", "staging", "--store", str(tmp_path / "s")]
    )
    assert result.exit_code == 1
    assert "bad.json" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_no_data_is_exit_code_3_naming_the_store(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["summary", "--env", "staging", "--store", str(tmp_path / "empty")]
    )
    assert result.exit_code == 3
    assert str(tmp_path / "empty") in result.output and "analyze import" in result.output


def test_simulate_prints_its_manifest(tmp_path: Path) -> None:
    out = tmp_path / "sim.jsonl.gz"
    result = CliRunner().invoke(
        main, ["simulate", "--env", "staging", "--days", "1", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["entries_written"] > 0 and out.exists()
