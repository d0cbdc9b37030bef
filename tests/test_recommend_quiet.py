"""`recommend` is quiet by default: what a reader acts on, in 120 columns; history is kept
once per distinct standing run."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer.cli import main


@pytest.mark.slow
def test_a_standing_run_identical_to_the_latest_is_not_saved_again(
    sample_recommended_lake: Path, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(sample_recommended_lake, lake)
    on = ["--env", "staging", "--store", str(lake)]
    runs = lake / "recommendations" / "env=staging"
    before = sorted(runs.glob("rec_*.json"))
    assert CliRunner().invoke(main, ["recommend", *on, "--format", "table"]).exit_code == 0
    after = sorted(runs.glob("rec_*.json"))
    assert len(after) <= len(before) + 1  # the first repeat may carry over anew, then no more
    for fmt in ("json", "table"):
        assert CliRunner().invoke(main, ["recommend", *on, "--format", fmt]).exit_code == 0
        assert sorted(runs.glob("rec_*.json")) == after
    looked = CliRunner().invoke(main, ["recommend", *on, "--since", "14d", "--save"])
    assert looked.exit_code == 0 and len(list(runs.glob("rec_*.json"))) == len(after) + 1
    history = CliRunner().invoke(main, ["history", *on, "--format", "json"])
    assert len(json.loads(history.stdout)) == len(after) + 1


@pytest.mark.slow
def test_the_table_shows_what_a_reader_acts_on_in_120_columns(
    sample_recommended_lake: Path,
) -> None:
    on = ["recommend", "--env", "staging", "--store", str(sample_recommended_lake), "--no-history"]
    quiet = CliRunner().invoke(main, on)
    every = CliRunner().invoke(main, [*on, "--all"])
    rec = json.loads(CliRunner().invoke(main, [*on, "--format", "json"]).stdout)
    assert quiet.exit_code == every.exit_code == 0
    assert max(len(line) for line in quiet.output.splitlines()) <= 120
    assert "(no evidence: " not in quiet.output and "(no evidence: " in every.output
    rows = [line for line in quiet.output.splitlines() if re.match(r"\s+\d+  \w", line)]
    shown = [
        t
        for t in rec["timeouts"]
        if t["source"] == "recommended"
        or (t["current_timeout_s"] is not None and t["timeout_s"] != t["current_timeout_s"])
    ]
    assert len(rows) == len(shown) < len(rec["timeouts"])
    hidden = len(rec["timeouts"]) - len(shown)
    assert f"{hidden} key(s) without evidence" in quiet.output and "--all" in quiet.output
    floor = [t for t in rec["timeouts"] if t["clamped"] == "floor"]
    ceiling = [t for t in rec["timeouts"] if t["clamped"] == "ceiling"]
    assert floor and ceiling
    for table in (quiet.output, every.output):  # the legend's marks, each where it belongs
        assert table.count(" s!") == len(ceiling) and table.count(" s_") == len(floor)
    assert "RAISE" in quiet.output  # the sample's critical state times out at 75 s today


@pytest.mark.slow
def test_history_last_and_changed(sample_recommended_lake: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(sample_recommended_lake, lake)
    on = ["--env", "staging", "--store", str(lake)]
    for since in ("14d", "7d"):  # two more runs whose values move
        assert (
            CliRunner().invoke(main, ["recommend", *on, "--since", since, "--save"]).exit_code == 0
        )
    every = CliRunner().invoke(main, ["history", *on])
    assert every.exit_code == 0 and every.output.startswith("3 recommendation(s)")
    last = CliRunner().invoke(main, ["history", *on, "--last", "2"])
    assert last.output.startswith("2 recommendation(s)")
    rows = [line for line in every.output.splitlines() if line.endswith(" s") and "->" in line]
    changed = CliRunner().invoke(main, ["history", *on, "--changed"])
    moved = [line for line in changed.output.splitlines() if line.endswith(" s") and "->" in line]
    assert 0 < len(moved) < len(rows)
    for line in moved:
        values = line.rsplit("  ", 1)[-1].removesuffix(" s").split(" -> ")
        assert len(set(values)) > 1, line
    csv_moved = CliRunner().invoke(main, ["history", *on, "--changed", "--format", "csv"])
    records = list(csv.DictReader(io.StringIO(csv_moved.stdout)))
    assert len(records) == 3 * len([m for m in moved if "breaker" not in m]) + 3 * sum(
        "breaker" in m for m in moved
    )
    assert list(records[0])[:5] == ["env", "service", "phase", "operation", "vpc_state"]
    one = CliRunner().invoke(main, ["history", *on, "--last", "1", "--changed"])
    assert one.exit_code == 0 and "no setting moved between these runs" in one.output


@pytest.mark.slow
def test_a_format_a_command_cannot_show_is_refused(sample_recommended_lake: Path) -> None:
    on = ["--env", "staging", "--store", str(sample_recommended_lake)]
    result = CliRunner().invoke(main, ["backtest", *on, "--sweep", "--format", "csv"])
    assert result.exit_code == 2 and "--sweep prints as --format table or json" in result.output
