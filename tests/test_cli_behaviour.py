"""The CLI behaves as SREs expect: mistyped stores and spans, Ctrl-C, gates, hints."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer.cli import main

READ_COMMANDS = [
    ["summary", "--env", "staging"],
    ["recommend", "--env", "staging"],
    ["history", "--env", "staging"],
    ["backtest", "--env", "staging", "--timeout-s", "20"],
    ["regressions", "--env", "staging"],
    ["blame", "--env", "staging"],
    ["export", "--env", "staging", "--out", "-"],
    ["verify"],
    ["compact", "--env", "staging"],
]


@pytest.mark.parametrize("args", READ_COMMANDS, ids=lambda a: a[0])
def test_a_store_that_does_not_exist_is_an_error_and_is_not_made(
    tmp_path: Path, args: list[str]
) -> None:
    missing = tmp_path / "typo"
    result = CliRunner().invoke(main, [*args, "--store", str(missing)])
    assert result.exit_code == 3, result.output
    assert f"error: no store at {missing}" in result.output
    assert not missing.exists()  # a failed recommend made no recommendations/ folder


def test_regressions_fail_on_regression_gates_a_deploy(sample_lake: Path) -> None:
    on = ["regressions", "--store", str(sample_lake), "--since", "28d"]
    looked = CliRunner().invoke(main, [*on, "--env", "staging"])
    assert looked.exit_code == 0 and "SLOWER" in looked.output  # looking is not failing
    gated = CliRunner().invoke(main, [*on, "--env", "staging", "--fail-on-regression"])
    assert gated.exit_code == 1 and "SLOWER" in gated.output
    assert "flagged slower (--fail-on-regression)" in gated.output
    calm = CliRunner().invoke(main, [*on, "--env", "production", "--fail-on-regression"])
    assert calm.exit_code == 0, calm.output
