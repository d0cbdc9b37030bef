"""The CLI behaves as SREs expect: mistyped stores and spans, Ctrl-C, gates, hints."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from analyzer.cli import main
from tests.conftest import entry, write_ndjson

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


@pytest.mark.slow
def test_regressions_fail_on_regression_gates_a_deploy(sample_lake: Path) -> None:
    on = ["regressions", "--store", str(sample_lake), "--since", "28d"]
    looked = CliRunner().invoke(main, [*on, "--env", "staging"])
    assert looked.exit_code == 0 and "SLOWER" in looked.output  # looking is not failing
    gated = CliRunner().invoke(main, [*on, "--env", "staging", "--fail-on-regression"])
    assert gated.exit_code == 1 and "SLOWER" in gated.output
    assert "flagged slower (--fail-on-regression)" in gated.output
    calm = CliRunner().invoke(
        main, [*on, "--env", "staging", "--service", "netra-auth-staging", "--fail-on-regression"]
    )
    assert calm.exit_code == 0, calm.output


def test_envs_and_services_match_whatever_their_case(recommended_store: Path) -> None:
    on = ["--store", str(recommended_store)]
    lower = CliRunner().invoke(main, ["history", "--env", "staging", *on])
    upper = CliRunner().invoke(main, ["history", "--env", "Staging", *on])
    assert upper.exit_code == 0 and upper.output == lower.output
    services = CliRunner().invoke(main, ["history", "--env", "staging", "--format", "json", *on])
    (name, *_) = sorted({r["service"] for r in _rows(services.output) if r["service"]})
    shouted = CliRunner().invoke(
        main, ["history", "--env", "STAGING", "--service", name.upper(), *on]
    )
    assert shouted.exit_code == 0, shouted.output


def _rows(text: str) -> list[dict[str, object]]:
    import json

    return [row for run in json.loads(text) for row in run["timeouts"]]


def test_a_mistyped_env_or_service_gets_a_did_you_mean(recommended_store: Path) -> None:
    on = ["--store", str(recommended_store)]
    env = CliRunner().invoke(main, ["summary", "--env", "stagign", *on])
    assert env.exit_code == 3 and "did you mean 'staging'?" in env.output
    history = CliRunner().invoke(main, ["history", "--env", "staging", "--format", "json", *on])
    name = sorted({str(r["service"]) for r in _rows(history.output) if r["service"]})[0]
    for command in ("summary", "history", "recommend"):
        result = CliRunner().invoke(
            main,
            [command, "--env", "staging", "--service", name[:-1] + "x", *on, "--no-history"]
            if command == "recommend"
            else [command, "--env", "staging", "--service", name[:-1] + "x", *on],
        )
        assert result.exit_code != 0 and f"did you mean {name!r}?" in result.output, result.output


def test_an_import_under_another_env_stores_nothing_and_says_so(tmp_path: Path) -> None:
    export = write_ndjson(
        tmp_path / "e.jsonl",
        [entry({"event": "phase_started", "phase": 1, "env": "staging"}, t=i) for i in range(5)],
    )
    lake = tmp_path / "lake"
    result = CliRunner().invoke(
        main, ["import", str(export), "--env", "stagng", "--store", str(lake)]
    )
    assert result.exit_code == 1
    assert "nothing stored in env stagng: the entries carry env staging" in result.output
    assert "did you mean 'staging'?" in result.output
    assert not lake.exists()
    right = CliRunner().invoke(
        main, ["import", str(export), "--env", "staging", "--store", str(lake)]
    )
    assert right.exit_code == 0 and "stored 5" in right.output
    again = CliRunner().invoke(
        main, ["import", str(export), "--env", "staging", "--store", str(lake)]
    )
    assert again.exit_code == 0  # all duplicates: nothing new, and nothing wrong
    other = CliRunner().invoke(main, ["import", str(export), "--env", "prod", "--store", str(lake)])
    assert other.exit_code == 1 and lake.is_dir()  # an existing store stays


@pytest.mark.parametrize(
    "args",
    [
        ["recommend", "--env", "staging", "--since", "5y"],
        ["recommend", "--env", "staging", "--half-life", "3q"],
        ["regressions", "--env", "staging", "--until", "tomorrow"],
        ["backtest", "--env", "staging", "--timeout-s", "20", "--since", "5y"],
        ["collect", "--env", "staging", "--project", "p", "--since", "yesterday"],
        ["summary", "--env", "staging", "--engine", "bigquery", "--lookback", "9x"],
    ],
    ids=lambda a: f"{a[0]} {a[-2]}",
)
def test_spans_are_checked_before_any_work(tmp_path: Path, args: list[str]) -> None:
    result = CliRunner().invoke(main, [*args, "--store", str(tmp_path / "lake")])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for {args[-2]}" in result.output
    assert not (tmp_path / "lake").exists()


@pytest.mark.slow
def test_ctrl_c_during_an_import_keeps_whole_segments_and_a_rerun_finishes(tmp_path: Path) -> None:
    """SIGINT lands once the first batch is published, while the next ones are read."""
    import signal
    import subprocess
    import sys
    import time

    from analyzer.ingest.sources import BATCH_FILES

    exports = tmp_path / "exports"
    for n in range(4 * BATCH_FILES):  # four batches, each published on its own
        rows = [
            entry({"event": "phase_started", "phase": 1 + i % 5}, t=n * 600 + i) for i in range(40)
        ]
        write_ndjson(exports / f"run-{n:05d}.jsonl", rows)
    lake = tmp_path / "lake"
    command = [str(Path(sys.executable).parent / "analyze"), "import", str(exports)]
    command += ["--env", "staging", "--store", str(lake)]
    running = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list((lake / "events").rglob("*.parquet")) and running.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    running.send_signal(signal.SIGINT)
    out, err = running.communicate(timeout=120)
    assert running.returncode == 130, out + err
    kept = len(list((lake / "events").rglob("*.parquet")))
    assert f"interrupted; {kept} segments kept, run again to finish" in err
    assert "Traceback" not in err and "internal error" not in err
    assert kept >= 1
    assert not (lake / ".tmp").exists()  # no staged leftovers
    checked = CliRunner().invoke(main, ["verify", "--store", str(lake)])
    assert checked.exit_code == 0, checked.output  # every segment whole, checksummed
    again = CliRunner().invoke(
        main, ["import", str(exports), "--env", "staging", "--store", str(lake)]
    )
    assert again.exit_code == 0, again.output
    total = 4 * BATCH_FILES * 40
    counts = re.search(r"stored ([\d,]+) in env staging, duplicates ([\d,]+)", again.output)
    assert counts, again.output
    stored, duplicates = (int(n.replace(",", "")) for n in counts.groups())
    assert stored + duplicates == total and duplicates > 0 and stored > 0  # stopped midway


def test_config_show_takes_the_store_and_env_of_the_commands_it_shows(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    shown = CliRunner().invoke(
        main, ["config", "show", "--env", "staging", "--store", lake, "--format", "json"]
    )
    assert shown.exit_code == 0, shown.output
    (store,) = [row for row in json.loads(shown.output) if row["setting"] == "store"]
    assert store["value"] == lake and store["source"] == "flag"
    one = CliRunner().invoke(
        main, ["config", "show", "--store", lake, "--format", "json", "recommend", "--env", "x"]
    )
    assert [r["value"] for r in json.loads(one.output) if r["setting"] == "store"] == [lake]


@pytest.mark.slow
def test_collect_finds_the_project_as_gcloud_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_collect import ENTRIES, TELEMETRY_IDS, cli_args, running

    gcloud = tmp_path / "gcloud"
    (gcloud / "configurations").mkdir(parents=True)
    (gcloud / "active_config").write_text("work\n")
    (gcloud / "configurations" / "config_work").write_text("[core]\nproject = demo\n")
    (gcloud / "configurations" / "config_default").write_text("[core]\nproject = other\n")
    for name in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "CLOUDSDK_ACTIVE_CONFIG_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(gcloud))
    with running(ENTRIES) as cloud:

        def collect(store: str) -> Any:
            args = cli_args(
                cloud,
                tmp_path / store,
                "--requests-per-minute",
                "60000",
                "--backoff-base-s",
                "0.001",
            )
            at = args.index("--project")
            return CliRunner().invoke(main, args[:at] + args[at + 2 :])

        configured = collect("a")  # the active configuration's core/project
        assert configured.exit_code == 0, configured.output
        assert f"stored {len(TELEMETRY_IDS):,}" in configured.output
        assert "project demo (from gcloud configuration" in configured.output
        monkeypatch.setenv("CLOUDSDK_CORE_PROJECT", "nope")  # the variable wins: unknown here
        core = collect("b")
        assert core.exit_code == 1 and "project nope (from $CLOUDSDK_CORE_PROJECT)" in core.output
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "gone")  # and this one over it
        google = collect("c")
        assert google.exit_code == 1 and "project gone (from $GOOGLE_CLOUD_PROJECT)" in (
            google.output
        )
        for name in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"):
            monkeypatch.delenv(name)
        monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "none"))
        nothing = collect("d")
        assert nothing.exit_code == 2 and "give --project" in nothing.output


def test_forget_undoes_an_import_under_the_wrong_env(tmp_path: Path) -> None:
    rows = [entry({"event": "phase_started", "phase": 1 + i % 5}, t=i * 60) for i in range(30)]
    wrong = write_ndjson(tmp_path / "exports" / "wrong.jsonl", rows)
    kept = write_ndjson(
        tmp_path / "exports" / "kept.jsonl",
        [entry({"event": "phase_started", "phase": 2}, t=i * 60 + 7) for i in range(10)],
    )
    lake = tmp_path / "lake"
    on = ["--store", str(lake)]

    def cli(*args: str) -> Any:
        return CliRunner().invoke(main, [*args, *on])

    assert cli("import", str(kept), str(wrong), "--env", "production").exit_code == 0
    again = cli("import", str(wrong), "--env", "staging")
    assert again.exit_code == 0 and "stored 0" in again.output  # its ids are taken
    missing = cli("forget", "--env", "production", "--source", str(tmp_path / "wrng.jsonl"))
    assert missing.exit_code == 1 and "did you mean" in missing.output

    done = cli("forget", "--env", "production", "--source", str(wrong))
    assert done.exit_code == 0, done.output
    assert "forgot 30 events and 0 quarantined entries of env production" in done.output
    assert cli("verify").exit_code == 0
    redone = cli("import", str(wrong), "--env", "staging")
    assert redone.exit_code == 0 and "stored 30 in env staging" in redone.output
    assert _events(lake) == {"production": 10, "staging": 30}
    (logged,) = [json.loads(line) for line in (lake / "forgotten.jsonl").read_text().splitlines()]
    assert logged["env"] == "production" and logged["sources"] == [str(wrong)]
    assert logged["events"] == 30


def _events(lake: Path) -> dict[str, int]:
    """Rows per env in the lake's event segments, each row as many times as it is stored."""
    import duckdb

    found = (
        duckdb.connect()
        .execute(
            "SELECT env, count(*) FROM read_parquet(?, hive_partitioning = true) GROUP BY env",
            [str(lake / "events" / "**" / "*.parquet")],
        )
        .fetchall()
    )
    return {str(env): int(n) for env, n in found}


def test_forget_by_import_id_undoes_exactly_that_import(tmp_path: Path) -> None:
    first = write_ndjson(
        tmp_path / "a" / "one.jsonl",
        [entry({"event": "phase_started", "phase": 1}, t=i * 60) for i in range(12)],
    )
    second = write_ndjson(
        tmp_path / "b" / "two.jsonl",
        [entry({"event": "phase_started", "phase": 2}, t=i * 60 + 5) for i in range(8)],
    )
    on = ["--store", str(tmp_path / "lake")]
    kept = CliRunner().invoke(main, ["import", str(first), "--env", "prod", *on])
    wrong = CliRunner().invoke(main, ["import", str(second), "--env", "prod", *on])
    assert kept.exit_code == wrong.exit_code == 0
    found = re.search(r"\(import ([0-9a-f]{8})\)", wrong.output)
    assert found, wrong.output
    typo = CliRunner().invoke(main, ["forget", "--env", "prod", "--import", "0" * 8, *on])
    assert typo.exit_code == 1 and "no import '00000000'" in typo.output
    both = CliRunner().invoke(
        main, ["forget", "--env", "prod", "--import", found[1], "--source", "x", *on]
    )
    assert both.exit_code == 2
    done = CliRunner().invoke(main, ["forget", "--env", "prod", "--import", found[1], *on])
    assert done.exit_code == 0 and "forgot 8 events" in done.output, done.output
    assert _events(tmp_path / "lake") == {"prod": 12}


def test_a_path_the_system_refuses_is_one_line_not_an_internal_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(
        main, ["simulate", "--env", "staging", "--days", "1", "--out", str(blocker / "export")]
    )
    assert result.exit_code == 1, result.output
    assert "Not a directory" in result.output
    assert str(blocker) in result.output
    assert "internal error" not in result.output


def test_a_bucket_prefix_that_holds_nothing_is_no_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import emulator_cannot_start

    try:
        from tests.gcs_emulator import start_emulator

        server, host = start_emulator()
    except Exception as exc:  # any failure to start: skipped here, failed in CI
        emulator_cannot_start(f"the GCS emulator cannot start here: {exc}")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", host)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    try:
        for args in (["summary", "--env", "staging"], ["verify"]):
            result = CliRunner().invoke(main, [*args, "--store", "gs://lake/typo"])
            assert result.exit_code == 3, result.output
            assert "error: no store at gs://lake/typo" in result.output
    finally:
        server.stop()
