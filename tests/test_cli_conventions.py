"""Command-line conventions: version, colours, csv, help layout, spans, exit codes, hints."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer.cli import main
from analyzer.cli.main import EXIT_INTERNAL_ERROR
from analyzer.errors import NoDataError
from tests.conftest import entry, write_ndjson
from tests.test_cli import _commands

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def sample_store(recommended_store: Path) -> Path:
    return recommended_store


def test_version() -> None:
    from importlib.metadata import version

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output == f"analyze, version {version('analyzer')}\n"


@pytest.mark.parametrize("path", _commands(main), ids=" ".join)
def test_examples_keep_their_line_breaks(path: tuple[str, ...]) -> None:
    command = main
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    written = (command.help or "").split("Example:", 1)[1]
    examples = [line.strip() for line in written.splitlines() if line.strip("\x08 \t")]
    shown = CliRunner().invoke(main, [*path, "--help"], terminal_width=60).output
    block = shown.split("Example:", 1)[1].split("\n\n", 2)[1]
    assert [line.strip() for line in block.splitlines()] == examples
    assert all(e.startswith("analyze ") for e in examples)


def test_no_color_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["summary", "--env", "staging", "--store", str(tmp_path / "none")]
    coloured = CliRunner().invoke(main, args, color=True)
    assert ANSI.search(coloured.output)  # a terminal gets its red line
    monkeypatch.setenv("NO_COLOR", "1")
    plain = CliRunner().invoke(main, args, color=True)
    assert plain.exit_code == 3 and plain.output.startswith("error: no store at")
    assert not ANSI.search(plain.output)


def test_no_colour_off_a_terminal(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from analyzer.cli import main; main()",
            "summary",
            "--env",
            "staging",
            "--store",
            str(tmp_path / "none"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 3 and done.stderr.startswith("error: ") and "\x1b" not in done.stderr


@pytest.mark.parametrize(
    ("command", "first_columns"),
    [
        (["summary"], ["env", "service", "phase", "operation", "vpc_state", "attempts"]),
        (
            ["recommend", "--no-history"],
            ["env", "service", "phase", "operation", "vpc_state", "attempts"],
        ),
        (
            ["history"],
            ["env", "service", "phase", "operation", "vpc_state", "run", "generated_at", "value"],
        ),
        (["backtest"], ["env", "service", "vpc_state", "attempts", "success_rate_observed"]),
    ],
)
def test_csv_wherever_tables_are_printed(
    sample_store: Path, command: list[str], first_columns: list[str]
) -> None:
    result = CliRunner().invoke(
        main, [*command, "--env", "staging", "--store", str(sample_store), "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows and list(rows[0])[: len(first_columns)] == first_columns
    assert {r["env"] for r in rows} == {"staging"}
    if command[0] == "backtest":
        assert rows[-1]["service"] == "overall" and not rows[-1]["vpc_state"]
        assert int(rows[-1]["attempts"]) == sum(int(r["attempts"]) for r in rows[:-1])
    if command[0] == "recommend":
        assert {"quantiles_s.p99", "ci_s.0", "ci_s.1", "timeout_s"} <= set(rows[0])


@pytest.mark.parametrize("span", ["5y", "-5d", "28"])
@pytest.mark.parametrize("option", ["--since", "--half-life"])
def test_bad_spans_say_which_are_valid(sample_store: Path, span: str, option: str) -> None:
    result = CliRunner().invoke(
        main,
        [
            "recommend",
            "--env",
            "staging",
            "--store",
            str(sample_store),
            option,
            span,
            "--no-history",
        ],
    )
    assert result.exit_code == 2  # a usage error, found before any work
    (error,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert f"'{span}'" in error
    assert "a positive number and one unit of s, m, h, d or w (like 90m, 12h, 28d or 2w)" in error


def test_exit_codes_are_distinct(tmp_path: Path, sample_store: Path) -> None:
    runner = CliRunner()
    usage = runner.invoke(main, ["summary", "--env", "staging", "--format", "xml"])
    no_data = runner.invoke(main, ["summary", "--env", "staging", "--store", str(tmp_path / "e")])
    bad_input = runner.invoke(
        main, ["history", "--env", "staging", "--store", str(sample_store), "--service", "nope"]
    )
    assert (usage.exit_code, no_data.exit_code, bad_input.exit_code) == (2, 3, 1)
    assert NoDataError.exit_code == 3
    broken = tmp_path / "broken"
    export = write_ndjson(tmp_path / "e.jsonl", [entry({"event": "startup_started"})])
    runner.invoke(main, ["import", str(export), "--env", "staging", "--store", str(broken)])
    # A damaged segment is named (exit 1, see test_verify); a seal record that is a folder is not
    (broken / "sealed-segments.txt").unlink()
    (broken / "sealed-segments.txt").mkdir()
    internal = runner.invoke(main, ["summary", "--env", "staging", "--store", str(broken)])
    assert internal.exit_code == EXIT_INTERNAL_ERROR == 70
    assert internal.output.startswith("internal error: ") and "--debug" in internal.output


def test_backtest_refuses_a_config_and_a_static_timeout(tmp_path: Path, sample_store: Path) -> None:
    config = tmp_path / "t.json"
    on = ["--env", "staging", "--store", str(sample_store)]
    assert CliRunner().invoke(main, ["export", *on, "--out", str(config)]).exit_code == 0
    result = CliRunner().invoke(
        main, ["backtest", *on, "--config", str(config), "--timeout-s", "20"]
    )
    assert result.exit_code == 2 and "give --config FILE or --timeout-s S, not both" in (
        result.output
    )


@pytest.mark.parametrize("command", ["summary", "recommend", "history", "backtest"])
def test_an_env_typo_lists_the_envs_there_are(sample_store: Path, command: str) -> None:
    result = CliRunner().invoke(main, [command, "--env", "stagign", "--store", str(sample_store)])
    assert result.exit_code == 3
    assert "(envs in this store: staging)" in result.output


def test_compact_of_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    result = CliRunner().invoke(main, ["compact", "--env", "staging", "--store", str(missing)])
    assert result.exit_code == 3 and f"no store at {missing}" in result.output
    assert not missing.exists()


def test_completion_script_as_documented() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "analyze")],
        env={"_ANALYZE_COMPLETE": "bash_source", "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "_analyze_completion" in done.stdout
    commands = (Path(__file__).resolve().parent.parent / "docs" / "commands.md").read_text()
    assert 'eval "$(_ANALYZE_COMPLETE=bash_source analyze)"' in commands
