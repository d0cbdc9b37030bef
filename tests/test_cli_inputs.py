"""Bad input the CLI meets (flags, the project file, saved runs, config files): one line naming
the problem, the right exit code, never a hang or a traceback, and nothing lost."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer import runtime
from analyzer.cli import main
from analyzer.engine.bigquery_sql import check_table_id
from analyzer.errors import AnalyzerError
from analyzer.lake.store import Store
from analyzer.recommend.history import append_recommendation, load_history

ANALYZE = [str(Path(sys.executable).with_name("analyze"))]


@pytest.fixture
def store(recommended_store: Path, tmp_path: Path) -> Path:
    """A copy of three simulated days of staging with one saved run."""
    copy = tmp_path / "lake"
    shutil.copytree(recommended_store, copy)
    return copy


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder, no project file or store from the environment."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("ANALYZER_PROJECT_FILE", raising=False)
    monkeypatch.delenv("ANALYZER_STORE", raising=False)
    return work


def cli(*args: str, env: dict[str, str | None] | None = None) -> object:
    return CliRunner(env=env).invoke(main, list(args))


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text and "errors.pydantic.dev" not in text, text
    return lines[0]


def subprocess_cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The real command in its own process, so a hang fails the test instead of blocking it."""
    environment = {**os.environ, "NO_COLOR": "1", **env}
    environment.pop("ANALYZER_STORE", None)
    return subprocess.run(
        [*ANALYZE, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=60
    )


# N2: every number a saved run has reads back; one unreadable run does not take history down.


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e309"])
def test_a_non_finite_policy_value_is_a_usage_error(store: Path, value: str) -> None:
    result = cli("recommend", "--env", "staging", "--store", str(store), "--max-false-trips", value)
    assert result.exit_code == 2, result.output
    assert "max_false_trips_per_week" in one_line(result.stderr)
    assert len(load_history(Store(store), "staging")) == 1  # nothing saved


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("max-false-trips = inf", "max-false-trips"),
        ("margin = nan", "margin"),
        ("min-attempts = true", "min-attempts"),
        ("ceiling = false", "ceiling"),
        ('half-life = "0s"', "half-life"),
    ],
)
def test_the_project_file_refuses_what_the_flags_refuse(folder: Path, line: str, key: str) -> None:
    (folder / "analyzer.toml").write_text(f"[env.staging.policy]\n{line}\n")
    result = cli("config", "show", "--env", "staging")
    assert result.exit_code == 1
    said = one_line(result.stderr)
    assert f"invalid project file {folder / 'analyzer.toml'}: env.staging.policy.{key}" in said


def test_a_boolean_is_not_a_size(folder: Path) -> None:
    (folder / "analyzer.toml").write_text("[defaults]\nmax-bytes-billed = true\n")
    result = cli("config", "show")
    assert result.exit_code == 1 and "defaults.max-bytes-billed" in one_line(result.stderr)


def test_a_run_that_would_not_read_back_is_not_saved(store: Path) -> None:
    run = load_history(Store(store), "staging")[0]
    broken = run.model_copy(
        update={
            "run_id": "0badc0de",
            "policy": run.policy.model_copy(update={"max_false_trips_per_week": math.inf}),
        }
    )
    with pytest.raises(AnalyzerError, match="run 0badc0de not saved: it would not read back"):
        append_recommendation(Store(store), broken)
    assert [r.run_id for r in load_history(Store(store), "staging")] == [run.run_id]


@pytest.mark.slow
def test_one_unreadable_saved_run_is_skipped_with_one_warning(store: Path, tmp_path: Path) -> None:
    folder = Store(store).recommendations_dir / "env=staging"
    (good,) = folder.glob("rec_*.json")
    document = json.loads(good.read_text())
    document["policy"]["max_false_trips_per_week"] = None  # how inf was saved before
    bad = folder / "rec_29990101T000000000000Z_deadbeef.json"
    bad.write_text(json.dumps(document))
    on = ["--env", "staging", "--store", str(store)]
    for args in (
        ["history", *on],
        ["export", *on, "--out", str(tmp_path / "t.json")],
        ["backtest", *on, "--format", "json"],
        ["report", *on, "--out", str(tmp_path / "r.html")],
        ["recommend", *on, "--no-history", "--format", "json"],
    ):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output)
        warnings = [w for w in result.stderr.splitlines() if w.startswith("warning: ")]
        assert len(warnings) == 1, (args, result.stderr)
        assert f"warning: {bad}: not a readable recommendation (policy." in warnings[0]
        assert "max_false_trips_per_week: Input should be a valid number" in warnings[0]
        assert warnings[0].endswith("; skipped") and "pydantic.dev" not in warnings[0]
    assert json.loads((tmp_path / "t.json").read_text())["env"] == "staging"
    assert bad.exists()  # nothing is deleted: the file is there to look at


# N5, N14, N18: the project file is read as the runtime reads configs.


def test_a_project_file_that_is_a_fifo_or_dev_zero_fails_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "team.toml"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.toml"
    zero.symlink_to("/dev/zero")
    for given in (fifo, zero):
        for how in ("flag", "environment"):
            if how == "flag":
                result = subprocess_cli("--project-file", str(given), "history", cwd=tmp_path)
            else:
                result = subprocess_cli("history", cwd=tmp_path, ANALYZER_PROJECT_FILE=str(given))
            assert result.returncode == 1, (given, how, result.stderr)
            said = one_line(result.stderr)
            assert f"cannot read project file {given}: not a regular file" in said


@pytest.mark.parametrize("kind", ["fifo", "folder", "broken link", "link loop"])
def test_an_unreadable_analyzer_toml_stops_the_search(
    folder: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A parent's analyzer.toml (and its store) is never used past one that cannot be read."""
    (folder / "analyzer.toml").write_text('[defaults]\nstore = "parent-lake"\n')
    child = folder / "child"
    child.mkdir()
    found = child / "analyzer.toml"
    if kind == "fifo":
        os.mkfifo(found)
    elif kind == "folder":
        found.mkdir()
    elif kind == "broken link":
        found.symlink_to(child / "gone.toml")
    else:
        found.symlink_to(child / "loop.toml")
        (child / "loop.toml").symlink_to(found)
    monkeypatch.chdir(child)
    result = cli("config", "show")
    assert result.exit_code == 1, result.output
    assert f"cannot read project file {found}: " in one_line(result.stderr)


def test_deeply_nested_toml_is_one_line(folder: Path) -> None:
    (folder / "analyzer.toml").write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    result = cli("config", "show")
    assert result.exit_code == 1
    assert "nested too deeply" in one_line(result.stderr)


@pytest.mark.parametrize("key", ["store", "project", "deployed", "export.out"])
def test_a_nul_in_a_text_is_refused_at_the_check(folder: Path, key: str) -> None:
    table, _, name = key.rpartition(".")
    section = f"[env.staging.{table}]" if table else "[env.staging]"
    (folder / "analyzer.toml").write_text(f'{section}\n{name} = "a\\u0000b"\n')
    result = cli("config", "show", "--env", "staging")
    assert result.exit_code == 1
    assert f"env.staging.{key}: a text with a NUL character" in one_line(result.stderr)


# N13: --min-change takes each part once, a finite number of 0 or more.


@pytest.mark.parametrize(
    "text", ["10%,nans", "inf%", "10%,1e309s", "nan%", "-5%", "10%,2s,3s", "2s,2s", "5x", "%"]
)
def test_a_bad_min_change_is_a_usage_error(tmp_path: Path, text: str) -> None:
    result = cli(
        *("export", "--env", "staging", "--store", str(tmp_path / "none")),
        *("--diff", str(tmp_path / "d.json"), "--min-change", text),
    )
    assert result.exit_code == 2, result.output
    assert "--min-change" in result.output


def test_a_good_min_change_still_gates(store: Path, tmp_path: Path) -> None:
    on = ["--env", "staging", "--store", str(store)]
    assert cli("export", *on, "--out", str(tmp_path / "d.json")).exit_code == 0
    same = cli("export", *on, "--diff", str(tmp_path / "d.json"), "--min-change", " 0% , 0s ")
    assert same.exit_code == 0, same.output


# Messages (N20-27).


def config_with(env: str = "staging", timeout_s: float = 30.0) -> dict[str, object]:
    return {
        "schema_version": 3,
        "env": env,
        "timeouts": [
            {"phase": 3, "operation": "connection", "vpc_state": "healthy", "timeout_s": timeout_s}
        ],
        "breaker": {"failure_threshold": 5, "recovery_timeout_s": 30, "half_open_max_calls": 1},
    }


def test_check_escapes_the_strings_it_prints(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config_with(env="\x1b[31mred\u202e")))
    result = cli("export", "--check", str(path))
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\u202e" not in result.output
    assert "env \\x1b[31mred\\u202e" in one_line(result.output)
    document = config_with()
    document["services"] = {"evil\nkey": {"timeouts": document["timeouts"]}}
    path.write_text(json.dumps(document))
    result = cli("export", "--check", str(path))
    assert result.exit_code == 1
    assert "evil\\nkey" in one_line(result.stderr)


@pytest.mark.parametrize(("seconds", "valid"), [(5e-324, False), (0.999, False), (1.0, True)])
def test_the_shortest_timeout_a_config_may_set_is_one_second(
    tmp_path: Path, seconds: float, valid: bool
) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config_with(timeout_s=seconds)))
    checked = cli("export", "--check", str(path))
    assert checked.exit_code == (0 if valid else 1), checked.output
    if valid:
        assert runtime.read_config(path).timeouts[(3, "connection", "healthy")] == seconds
        return
    assert "timeouts.0.timeout_s" in one_line(checked.stderr)
    with pytest.raises(runtime.ConfigError, match=r"timeout_s: must be >= 1"):
        runtime.read_config(path)


def test_a_floor_under_a_second_is_refused(store: Path) -> None:
    result = cli("recommend", "--env", "staging", "--store", str(store), "--floor", "0.5")
    assert result.exit_code == 2 and "floor_s" in one_line(result.stderr)


@pytest.mark.parametrize("command", ["recommend", "backtest"])
def test_a_reversed_window_is_said_before_any_work(store: Path, command: str) -> None:
    history = Store(store).recommendations_dir
    shutil.rmtree(history)
    result = cli(
        *(command, "--env", "staging", "--store", str(store)),
        *("--since", "2999-01-01", "--until", "2026-01-01"),
    )
    assert result.exit_code == 2, result.output
    said = one_line(result.stderr)
    assert "the window is reversed: --since 2999-01-01 is not before --until 2026-01-01" in said
    assert not history.exists()


def test_a_zero_half_life_flag_is_refused(store: Path) -> None:
    result = cli("recommend", "--env", "staging", "--store", str(store), "--half-life", "0s")
    assert result.exit_code == 2 and "invalid span '0s'" in result.stderr


@pytest.mark.parametrize("table", ["p.d.t\n", "p.d.t\r\n", "p.d.t ", "\np.d.t"])
def test_a_table_name_with_a_trailing_newline_is_refused(folder: Path, table: str) -> None:
    with pytest.raises(AnalyzerError, match="invalid --source"):
        check_table_id(table)
    (folder / "analyzer.toml").write_text(f"[defaults]\nsource = {json.dumps(table)}\n")
    result = cli("config", "show")
    assert result.exit_code == 1 and "defaults.source: invalid --source" in one_line(result.stderr)
    assert check_table_id("my-project.logs.run_googleapis_com_stdout")
