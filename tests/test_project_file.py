"""The project file (analyzer.toml): per-env defaults under the flags, and `config show`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer.cli import main
from tests.conftest import entry, write_ndjson

PROJECT = """
[defaults]
store = "lake"

[defaults.policy]
since = "21d"
margin = 0.1

[env.staging]
project = "my-project"
service = "backend"

[env.staging.policy]
margin = 0.3
half-life = "7d"

[env.staging.export]
out = "deploy/timeouts-staging.json"
format = "yaml"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with analyzer.toml; the current folder is a sub-folder of it."""
    (tmp_path / "analyzer.toml").write_text(PROJECT)
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "sub" / "deeper")
    monkeypatch.delenv("ANALYZER_STORE", raising=False)
    monkeypatch.delenv("ANALYZER_PROJECT_FILE", raising=False)
    return tmp_path


def shown(*args: str) -> dict[str, dict[str, object]]:
    result = CliRunner().invoke(main, ["config", "show", "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return {row["setting"]: row for row in json.loads(result.output)}


def test_found_upward_and_merged_per_env(project: Path) -> None:
    toml = str(project / "analyzer.toml")
    rows = shown("--env", "staging")
    assert rows["store"]["value"] == str(project / "lake")
    assert rows["store"]["source"] == f"{toml} [defaults]"
    assert rows["policy.margin"]["value"] == 0.3
    assert rows["policy.margin"]["source"] == f"{toml} [env.staging.policy]"
    assert rows["policy.since"]["source"] == f"{toml} [defaults.policy]"
    assert rows["project"]["value"] == "my-project"
    assert rows["export.out"]["value"] == str(project / "deploy" / "timeouts-staging.json")
    assert rows["policy.target-quantile"] == {
        "setting": "policy.target-quantile",
        "value": 0.99,
        "source": "built-in default",
        "used_by": "--target-quantile of recommend",
    }
    other = shown("--env", "production")
    assert other["policy.margin"]["value"] == 0.1 and other["project"]["value"] is None


def test_a_store_url_is_kept_as_written(project: Path) -> None:
    (project / "analyzer.toml").write_text('[env.prod]\nstore = "gs://bucket/lake"\n')
    assert shown("--env", "prod")["store"]["value"] == "gs://bucket/lake"


def test_flags_then_environment_then_file(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANALYZER_STORE", str(project / "elsewhere"))
    rows = shown("recommend", "--env", "staging", "--margin", "0.5")
    assert (rows["policy.margin"]["value"], rows["policy.margin"]["source"]) == (0.5, "flag")
    assert rows["store"]["source"] == "environment variable ANALYZER_STORE"
    assert rows["policy.half-life"]["value"] == "7d"
    assert "project" not in rows  # recommend has no --project


def test_commands_run_with_the_file_and_flags_override_it(project: Path) -> None:
    export = write_ndjson(project / "e.jsonl", [entry({"event": "startup_started"})])
    runner = CliRunner()
    assert runner.invoke(main, ["import", str(export), "--env", "staging"]).exit_code == 0
    assert list((project / "lake" / "events" / "env=staging").rglob("*.parquet"))
    summary = runner.invoke(main, ["summary", "--env", "staging", "--format", "json"])
    assert json.loads(summary.output)["events"] == 1
    elsewhere = runner.invoke(
        main, ["summary", "--env", "staging", "--store", str(project / "none")]
    )
    assert elsewhere.exit_code == 3 and str(project / "none") in elsewhere.output


def test_an_explicit_project_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "team.toml").write_text("[env.prod.policy]\nceiling = 120\n")
    result = CliRunner().invoke(
        main,
        ["--project-file", "team.toml", "config", "show", "--env", "prod", "--format", "json"],
    )
    by_key = {r["setting"]: r for r in json.loads(result.output)}
    assert by_key["policy.ceiling"]["value"] == 120.0
    assert by_key["policy.ceiling"]["source"] == f"{tmp_path / 'team.toml'} [env.prod.policy]"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[env.staging.policy]\nmargn = 0.3\n", "env.staging.policy.margn: unknown key"),
        ("[defaults]\nstore = 3\n", "defaults.store: Input should be a valid string"),
        ("[env.staging.policy]\ntarget-quantile = 1.5\n", "env.staging.policy.target-quantile:"),
        ('[defaults.policy]\nhalf-life = "5y"\n', "defaults.policy.half-life: invalid span"),
        ('[env.staging.export]\nformat = "xml"\n', "env.staging.export.format: Input should"),
        ("[defaults]\nstore = \n", "Invalid value (at line 2, column 9)"),
        ('[env."a b"]\n', "invalid env 'a b'"),
    ],
)
def test_an_invalid_file_is_one_line_naming_the_key(project: Path, text: str, message: str) -> None:
    (project / "analyzer.toml").write_text(text)
    result = CliRunner().invoke(main, ["summary", "--env", "staging"])
    assert result.exit_code == 1
    assert f"invalid project file {project / 'analyzer.toml'}: " in result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_the_documented_example_is_a_valid_project_file(tmp_path: Path) -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "project-file.md").read_text()
    example = page.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "analyzer.toml").write_text(example)
    result = CliRunner().invoke(
        main, ["--project-file", str(tmp_path / "analyzer.toml"), "config", "show"]
    )
    assert result.exit_code == 0, result.output


def test_demo_runs_as_shipped_whatever_the_file_says(project: Path) -> None:
    (project / "analyzer.toml").write_text(
        '[defaults.policy]\nmargin = 5\n[env.staging.export]\nformat = "yaml"\n'
    )
    sample = project / "sample" / "staging" / "staging.jsonl.gz"
    sample.parent.mkdir(parents=True)
    simulated = ["simulate", "--env", "staging", "--days", "2", "--out", str(sample)]
    assert CliRunner().invoke(main, simulated).exit_code == 0
    result = CliRunner().invoke(
        main, ["demo", "--sample", str(sample.parent.parent), "--store", str(project / "demo")]
    )
    assert result.exit_code == 0, result.output
    # the built-in policy (a target rate), not the file's margin of 5
    assert "at most 0.5 % of attempts time out" in result.output
    assert "(1 + 5)" not in result.output
    config = json.loads((project / "demo" / "timeouts-staging.json").read_text())
    assert config["env"] == "staging"


def test_the_engine_settings_per_env(project: Path) -> None:
    """engine, source, source-shape and max-bytes-billed fill the engine's options of every
    command that has them, per env; a flag still wins, and a bad value names its key."""
    (project / "analyzer.toml").write_text(
        '[defaults]\nstore = "lake"\n\n[env.production]\nengine = "bigquery"\n'
        'source = "my-project.logs.run_googleapis_com_stdout"\nsource-shape = "sink"\n'
        'max-bytes-billed = "20GiB"\nattempt-rows = "counts"\n'
    )
    toml = str(project / "analyzer.toml")
    rows = shown("blame", "--env", "production", "--max-bytes-billed", "5GiB")
    assert rows["engine"]["value"] == "bigquery"
    assert rows["engine"]["source"] == f"{toml} [env.production]"
    assert rows["source"]["value"] == "my-project.logs.run_googleapis_com_stdout"
    assert rows["source-shape"]["value"] == "sink"
    assert rows["attempt-rows"]["value"] == "counts"
    assert (rows["max-bytes-billed"]["value"], rows["max-bytes-billed"]["source"]) == (
        "5GiB",
        "flag",
    )
    assert shown("summary", "--env", "staging")["engine"]["value"] == "local"
    # the command asks BigQuery: with no source given, the engine's own error says so
    (project / "analyzer.toml").write_text('[env.production]\nengine = "bigquery"\n')
    for command in ("summary", "regressions", "blame", "recommend"):
        result = CliRunner(env={"ANALYZER_BQ_SOURCE": None}).invoke(
            main, [command, "--env", "production"]
        )
        assert result.exit_code == 1, result.output
        assert "--engine bigquery needs --source" in result.stderr
    (project / "analyzer.toml").write_text('[env.production]\nmax-bytes-billed = "lots"\n')
    result = CliRunner().invoke(main, ["summary", "--env", "production"])
    assert result.exit_code == 1
    assert "env.production.max-bytes-billed: invalid size 'lots'" in result.output
    (project / "analyzer.toml").write_text('[defaults]\nsource = "no-dots"\n')
    result = CliRunner().invoke(main, ["summary", "--env", "production"])
    assert "defaults.source: invalid --source 'no-dots'" in result.output
