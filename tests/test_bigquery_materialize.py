"""`analyze bigquery materialize` against a BigQuery emulator on 127.0.0.1: a simulated sink
(three days of staging's structured events, 3 % of them delivered twice, beside production's)
materialised day by day holds each of staging's events once, as the lake does; a rerun adds
nothing; a new day adds that day only, by the command or by its scheduled query (which also
passes Google's analyzer); a source that may mix envs is refused in one line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from analyzer.cli import main
from analyzer.engine import local_engine
from analyzer.engine.bigquery import BigQueryEngine
from analyzer.engine.materialize import materialize, open_source
from analyzer.lake.store import Store
from analyzer.simulate import SimulationManifest, SimulationSpec, simulate_entries
from tests.bigquery_emulator import PROJECT, EmulatorUnavailable, running_emulator
from tests.bigquery_tables import create_table, emulator_client, sink_row, sink_schema
from tests.conftest import emulator_cannot_start, write_ndjson

START = datetime(2026, 11, 20, tzinfo=UTC)  # three days: the 20th, 21st and 22nd
SOURCE = f"{PROJECT}.logs.run_googleapis_com_stdout"
# the columns compared with the lake's (payload is rebuilt from the fields the lake reads)
COLUMNS = ("insert_id", "ts", "env", "service", "startup_id", "event", "phase", "outcome")
COLUMNS += ("vpc_state", "duration_s", "timeout_s", "form")


@dataclass
class Emulated:
    endpoint: str
    client: Any
    lake: Store  # staging's entries, imported
    production_lake: Store  # production's, imported
    mixed_source: str  # staging's structured entries and text lines that name no env
    shards_source: str  # staging's entries as date shards, each with its day's payload fields


def _entries(env: str, seed: int) -> list[dict[str, Any]]:
    spec = SimulationSpec(env=env, days=3, start=START, startups_per_hour=2, seed=seed)
    manifest = SimulationManifest(env=env, form="structured", start="", end="")
    return list(simulate_entries(spec, manifest))


def _runtime_events(like: dict[str, Any]) -> list[dict[str, Any]]:
    """The runtime's in-life events, whose fields the lake reads from `payload`: a config
    loaded, a fallback, and breaker summaries (the breaker's in-life evidence)."""
    from analyzer.runtime.telemetry import structured_payload

    config = {"config_path": "/etc/t.json", "config_sha256": "5e" * 32, "run_id": "a1b2c3d4"}
    events = [
        ("config_loaded", {"env": "staging", "outcome": "loaded", **config}),
        ("config_loaded", {"env": "staging", "outcome": "fallback", "error": "no config"}),
        *(
            (
                "breaker_summary",
                {
                    **{"env": "staging", "window_s": 3600.0, "breaker_state": "CLOSED"},
                    **{"operation": "connection", "vpc_state": state, "calls": calls},
                    **{"failures": failures, "vpc_state_source": "monitor"},
                },
            )
            for state, calls, failures in [("healthy", 400, 2), ("critical", 300, 120)]
        ),
    ]
    out = []
    for n, (event, fields) in enumerate(events):
        entry = json.loads(json.dumps(like))
        entry["insertId"] = f"runtime-{n}"
        entry["timestamp"] = entry["receiveTimestamp"] = f"2026-11-21T0{n}:30:00.000001Z"
        entry["labels"]["instanceId"] = f"runtime-{n}-instance"
        entry.pop("textPayload", None)
        entry["jsonPayload"] = structured_payload(event, fields)
        out.append(entry)
    return out


def _insert(
    client: Any, table: str, rows: list[dict[str, Any]], payload_fields: set[str] | None = None
) -> None:
    create_table(client, table, sink_schema(payload_fields=payload_fields), rows)


@pytest.fixture(scope="module")
def emulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulated]:
    folder = tmp_path_factory.mktemp("materialize")
    try:
        with running_emulator(folder / "emulator.log") as endpoint:
            yield _load(folder, endpoint)
    except EmulatorUnavailable as exc:
        emulator_cannot_start(f"no BigQuery emulator here: {exc}")


def _load(folder: Path, endpoint: str) -> Emulated:
    client = emulator_client(endpoint)
    staging = _entries("staging", 1)
    staging += _runtime_events(next(e for e in staging if "jsonPayload" in e))
    # a sink delivers some entries twice: the same insert id and time, received later
    again = [{**e, "receiveTimestamp": e["timestamp"][:19] + ".9Z"} for e in staging[::33]]
    lake = Store(folder / "lake")
    export = write_ndjson(folder / "staging.jsonl", [*staging, *again])
    imported = CliRunner().invoke(
        main, ["import", str(export), "--env", "staging", "--store", str(lake.root)]
    )
    assert imported.exit_code == 0, imported.output
    for dataset in ("logs", "analyzer", "mixed", "shards"):
        client.create_dataset(dataset)
    production = [{**e, "insertId": f"p-{e['insertId']}"} for e in _entries("production", 2)]
    production_lake = Store(folder / "production-lake")
    export = write_ndjson(folder / "production.jsonl", production)
    imported = CliRunner().invoke(
        main, ["import", str(export), "--env", "production", "--store", str(production_lake.root)]
    )
    assert imported.exit_code == 0, imported.output
    _insert(client, SOURCE, [sink_row(e) for e in [*staging, *again, *production]])
    # staging's structured entries beside a text line of another service that says no env
    text = {**staging[0], "insertId": "text-1", "textPayload": "SMD startup sequence beginning"}
    text.pop("jsonPayload", None)
    text["resource"] = {"labels": {"service_name": "other-service"}}
    mixed_source = f"{PROJECT}.mixed.run_googleapis_com_stdout"
    _insert(client, mixed_source, [sink_row(e) for e in [*staging[:200], text]])
    # date shards: each day's with the payload fields its entries carried; and the next day's
    shards_source = f"{PROJECT}.shards.run_googleapis_com_stdout"
    later = {**staging[-1], "insertId": "next-day", "timestamp": "2026-11-23T00:10:00Z"}
    for day in ("2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"):
        rows = [sink_row(e) for e in [*staging, *again, later] if e["timestamp"][:10] == day]
        fields = {k for r in rows for k in r.get("jsonPayload", {})}
        _insert(client, f"{shards_source}_{day.replace('-', '')}", rows, fields)
    return Emulated(
        endpoint=endpoint,
        client=client,
        lake=lake,
        production_lake=production_lake,
        mixed_source=mixed_source,
        shards_source=shards_source,
    )


def _engine(emulated: Emulated, now: datetime, source: str = SOURCE) -> BigQueryEngine:
    engine = open_source(
        source=source,
        envs=["staging"],
        services=None,
        max_bytes_billed=10 * 1024**3,
        job_timeout=timedelta(minutes=2),
        endpoint=emulated.endpoint,
        anonymous=True,
    )
    engine.now = lambda: now
    return engine


def _lake_rows(emulated: Emulated, before: datetime, env: str = "staging") -> list[tuple[Any, ...]]:
    """The lake's events of `env` before `before`, by COLUMNS."""
    columns = ", ".join(COLUMNS)
    lake = emulated.lake if env == "staging" else emulated.production_lake
    found = local_engine(lake).ask(
        lambda c: c.execute(
            f"SELECT {columns} FROM events WHERE env = ? AND ts < ?", [env, before]
        ).fetchall()
    )
    return sorted(found, key=repr)


def _dest_rows(emulated: Emulated, dest: str, env: str = "staging") -> list[tuple[Any, ...]]:
    columns = ", ".join(COLUMNS)
    job = emulated.client.query(
        f"SELECT {columns} FROM `{dest}` "
        f"WHERE env = '{env}' AND ts >= TIMESTAMP '2000-01-01 00:00:00+00'"
    )
    return sorted((tuple(row.values()) for row in job.result()), key=repr)


def _cli(emulated: Emulated, *args: str) -> Any:
    return CliRunner().invoke(
        main,
        [
            *("bigquery", "materialize", "--env", "staging", "--bq-endpoint", emulated.endpoint),
            *("--anonymous", *args),
        ],
    )


def test_each_day_is_added_once(emulated: Emulated) -> None:
    """Two whole days, then a rerun of them (nothing added), then nothing new before the third
    day ends, then the third day only: the table holds staging's events as the lake does, each
    once (the sink's repeats and production's entries left out)."""
    dest = f"{PROJECT}.analyzer.events"
    engine = _engine(emulated, START + timedelta(days=2, hours=5))
    first = materialize(engine, dest=dest, envs=["staging"], since=START)
    two_days = _lake_rows(emulated, START + timedelta(days=2))
    assert first.created and (str(first.first_day), str(first.last_day)) == (
        "2026-11-20",
        "2026-11-21",
    )
    assert first.rows_added == len(two_days) > 500
    assert _dest_rows(emulated, dest) == two_days
    table = emulated.client.get_table(dest)
    assert table.time_partitioning.field == "ts" and table.clustering_fields == ["env", "service"]
    assert materialize(engine, dest=dest, envs=["staging"], since=START).rows_added == 0
    assert materialize(engine, dest=dest, envs=["staging"]).first_day is None  # the 22nd not over
    # the 22nd ended two hours ago: it waits for entries delivered late, as the schedule does
    engine.now = lambda: START + timedelta(days=3, hours=2)
    assert materialize(engine, dest=dest, envs=["staging"]).first_day is None
    engine.now = lambda: START + timedelta(days=3, hours=5)
    third = materialize(engine, dest=dest, envs=["staging"])
    everything = _lake_rows(emulated, START + timedelta(days=3))
    assert (str(third.first_day), str(third.last_day)) == ("2026-11-22", "2026-11-22")
    assert third.rows_added == len(everything) - len(two_days) > 200
    held = _dest_rows(emulated, dest)
    assert held == everything and len({r[0] for r in held}) == len(held)
    # the command, over every day since the 19th to today: nothing it lacks
    result = _cli(emulated, "--source", SOURCE, "--dest", dest, "--since", "2026-11-19")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"staging: 0 rows added to {dest} (2026-11-19 to ")
    assert "bigquery: materialize billed" in result.stderr


def test_late_entries_redeliveries_and_midnight(emulated: Emulated) -> None:
    """A day is read whole, to its last microsecond and not the next day's first; an entry
    delivered late for a day held is added only when --since reads the day again, and a
    re-delivery of a held entry (another receive time) never: each entry once."""
    source = f"{PROJECT}.late.run_googleapis_com_stdout"
    emulated.client.create_dataset("late")
    like = next(e for e in _entries("staging", 1) if "jsonPayload" in e)

    def entry(insert_id: str, at: str, received: str) -> dict[str, Any]:
        return {**like, "insertId": insert_id, "timestamp": at, "receiveTimestamp": received}

    day_end = entry("day-end", "2026-11-20T23:59:59.999999Z", "2026-11-21T00:00:01Z")
    next_day = entry("next-day", "2026-11-21T00:00:00Z", "2026-11-21T00:00:01Z")
    _insert(emulated.client, source, [sink_row(e) for e in (day_end, next_day)])
    dest = f"{PROJECT}.late.events"
    engine = _engine(emulated, START + timedelta(days=1, hours=5), source)

    def held() -> list[str]:
        return sorted(r[0] for r in _dest_rows(emulated, dest))

    assert materialize(engine, dest=dest, envs=["staging"], since=START).rows_added == 1
    assert held() == ["day-end"]
    late = entry("late", "2026-11-20T12:00:00Z", "2026-11-21T09:00:00Z")
    again = {**day_end, "receiveTimestamp": "2026-11-21T09:00:00Z"}
    assert not emulated.client.insert_rows_json(
        emulated.client.get_table(source), [sink_row(e) for e in (late, again)]
    )
    assert materialize(engine, dest=dest, envs=["staging"]).first_day is None  # the 20th held
    assert held() == ["day-end"]
    assert materialize(engine, dest=dest, envs=["staging"], since=START).rows_added == 1
    assert held() == ["day-end", "late"]
    engine.now = lambda: START + timedelta(days=2, hours=5)
    assert materialize(engine, dest=dest, envs=["staging"]).rows_added == 1
    assert held() == ["day-end", "late", "next-day"]


def test_an_env_no_entry_names_is_said(emulated: Emulated) -> None:
    """A misspelt env adds nothing, and every run would read the first fill's days again: the
    command says which env the source has no entry of, alone or beside one it has."""
    dest = f"{PROJECT}.analyzer.misspelt"
    engine = _engine(emulated, START + timedelta(days=3, hours=5))
    said: list[str] = []
    engine.report = said.append
    assert materialize(engine, dest=dest, envs=["stagign"]).rows_added == 0
    assert [line for line in said if "warning: no entry of stagign in " in line], said
    said.clear()
    done = materialize(engine, dest=dest, envs=["staging", "stagign"])
    assert done.rows_added == len(_lake_rows(emulated, START + timedelta(days=3)))
    warned = [line for line in said if "warning: no entry of" in line]
    assert len(warned) == 1 and "of stagign in " in warned[0], said
    said.clear()
    materialize(engine, dest=dest, envs=["staging"])  # held: no look for the env, no warning
    assert not [line for line in said if "warning" in line], said


def test_the_scheduled_query_adds_yesterday(emulated: Emulated) -> None:
    """Printed, it passes Google's analyzer; run on the emulator at 03:00 on the 23rd it adds
    the 22nd, and run again nothing."""
    pytest.importorskip("zetasql", reason="the zetasql package (dev dependency) is not installed")
    from google.cloud import bigquery

    from tests.googlesql_analyzer import GoogleSqlAnalyzer

    dest = f"{PROJECT}.analyzer.scheduled"
    engine = _engine(emulated, START + timedelta(days=2, hours=5))
    assert materialize(engine, dest=dest, envs=["staging"], since=START).rows_added > 500
    printed = _cli(emulated, "--source", SOURCE, "--dest", dest, "--print-scheduled-query")
    assert printed.exit_code == 0, printed.output
    sql = printed.stdout
    # the transfer config is made where the source dataset is (bq's default, the US, would
    # not find an EU dataset)
    assert "bq --location=US mk --transfer_config" in printed.stderr
    assert "--schedule='every day 03:00'" in sql
    eu = bigquery.Dataset(f"{PROJECT}.eu_logs")
    eu.location = "EU"
    emulated.client.create_dataset(eu)
    _insert(emulated.client, f"{PROJECT}.eu_logs.run_googleapis_com_stdout", [])
    args = ("--dest", f"{PROJECT}.eu_logs.events", "--print-scheduled-query")
    in_eu = _cli(emulated, "--source", f"{PROJECT}.eu_logs.run_googleapis_com_stdout", *args)
    assert in_eu.exit_code == 0, in_eu.output
    assert "bq --location=EU mk --transfer_config" in in_eu.stderr
    GoogleSqlAnalyzer().analyze(
        sql.replace(f"`{SOURCE}`", "`sink_table`").replace(f"`{dest}`", "`lake_table`")
    )
    run_time = bigquery.ScalarQueryParameter(
        "run_time", "TIMESTAMP", START + timedelta(days=3, hours=3)
    )
    config = bigquery.QueryJobConfig(query_parameters=[run_time])
    added = emulated.client.query(sql, job_config=config)
    added.result()
    two_days = _lake_rows(emulated, START + timedelta(days=2))
    everything = _lake_rows(emulated, START + timedelta(days=3))
    assert added.num_dml_affected_rows == len(everything) - len(two_days)
    again = emulated.client.query(sql, job_config=config)
    again.result()
    assert again.num_dml_affected_rows == 0
    assert _dest_rows(emulated, dest) == everything


def test_date_shards_whose_columns_differ_are_materialised(emulated: Emulated) -> None:
    """Each day's shard read with its own columns, the day not over (its shard) left out; a
    scheduled query, which cannot name the day's shard, is refused in one line."""
    dest = f"{PROJECT}.analyzer.from_shards"
    engine = _engine(emulated, START + timedelta(days=3, hours=5), emulated.shards_source)
    assert engine.shape == "sink-shards" and len(engine.shard_ids) == 4
    done = materialize(engine, dest=dest, envs=["staging"], since=START)
    assert done.rows_added == len(_lake_rows(emulated, START + timedelta(days=3)))
    assert _dest_rows(emulated, dest) == _lake_rows(emulated, START + timedelta(days=3))
    args = ("--source", emulated.shards_source, "--dest", dest, "--print-scheduled-query")
    refused = _cli(emulated, *args)
    assert refused.exit_code == 1 and "is date-sharded" in refused.stderr


def test_several_envs_are_materialised_in_one_pass(emulated: Emulated) -> None:
    """staging and production from one table in one MERGE (each raw day read once for both):
    each env's rows are its lake's; a rerun adds nothing. Entries that say no env cannot be
    told apart then, so such a source is refused, and so is --source-services with them."""
    dest = f"{PROJECT}.analyzer.both"
    engine = _engine(emulated, START + timedelta(days=3, hours=5))
    envs = ["staging", "production"]
    done = materialize(engine, dest=dest, envs=envs, since=START)
    end = START + timedelta(days=3)
    staging, production = _lake_rows(emulated, end), _lake_rows(emulated, end, "production")
    assert done.rows_added == len(staging) + len(production) and engine.jobs == 1
    assert _dest_rows(emulated, dest) == staging
    assert _dest_rows(emulated, dest, "production") == production
    again = materialize(engine, dest=dest, envs=["production", "staging"])
    assert again.first_day is None and again.rows_added == 0
    args = ("--env", "staging,production", "--dest", dest, "--since", "2026-11-20")
    refused = _cli(emulated, *args, "--source", emulated.mixed_source)
    assert refused.exit_code == 1, refused.output
    assert "entries that say no env" in refused.stderr and "several envs" in refused.stderr
    named = _cli(emulated, *args, "--source", SOURCE, "--source-services", "a")
    assert named.exit_code == 1 and "give one --env with it" in named.stderr


def test_a_source_that_may_mix_envs_is_refused(emulated: Emulated) -> None:
    dest = f"{PROJECT}.analyzer.mixed"
    args = ("--source", emulated.mixed_source, "--dest", dest, "--since", "2026-11-20")
    refused = _cli(emulated, *args)
    assert refused.exit_code == 1
    assert "holds text lines that say no env beside entries naming envs" in refused.stderr
    assert "--source-services" in refused.stderr and "Traceback" not in refused.output
    named = _cli(emulated, *args, "--source-services", "netra-backend-staging")
    assert named.exit_code == 0, named.output
    assert named.stdout.startswith("staging: ") and " 0 rows" not in named.stdout


def test_bad_names_are_one_line(emulated: Emulated) -> None:
    for args, said in [
        (("--source", SOURCE, "--dest", SOURCE), "is the --source"),
        (("--source", SOURCE, "--dest", "no-dots"), "invalid --dest 'no-dots'"),
        (("--source", SOURCE, "--dest", f"{PROJECT}.nowhere.events"), "no dataset"),
        (("--dest", f"{PROJECT}.analyzer.x"), "needs --source"),
    ]:
        result = _cli(emulated, *args)
        assert result.exit_code == 1, result.output
        assert said in result.stderr and "Traceback" not in result.output
    # a table that is not a materialised one is never written to
    result = _cli(emulated, "--source", emulated.mixed_source, "--dest", SOURCE)
    assert result.exit_code == 1 and "not a materialised table" in result.stderr


def _json(args: list[str]) -> tuple[dict[str, Any], str]:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("generated_at", "run_id"):  # each run has its own
        data.pop(key, None)
    return data, result.stderr


def test_commands_over_the_table_give_the_lakes_answers_in_one_query(
    emulated: Emulated,
) -> None:
    """`recommend` (its breaker advice too) and `summary` over the materialised table, which
    holds staging and production, equal each env's lake JSON over the same window, each from
    one query job; a table where two MERGEs at once added the same days twice reads as one
    (the lake's own `events` view keeps an insert id once)."""
    dest = f"{PROJECT}.analyzer.answers"
    engine = _engine(emulated, START + timedelta(days=3, hours=5))
    envs = ["staging", "production"]
    assert materialize(engine, dest=dest, envs=envs, since=START).rows_added > 1000
    held = len(_dest_rows(emulated, dest))
    emulated.client.query(  # the same days added again, as by a MERGE running alongside
        f"INSERT INTO `{dest}` SELECT * FROM `{dest}` "
        "WHERE ts >= TIMESTAMP '2000-01-01 00:00:00+00'"
    ).result()
    assert len(_dest_rows(emulated, dest)) == 2 * held
    window = ("--since", "2026-11-20T00:00:00Z", "--until", "2026-11-23T00:00:00Z")
    remote = [
        *("--engine", "bigquery", "--source", dest, "--bq-endpoint", emulated.endpoint),
        *("--anonymous", "--lookback", "3650d", "--format", "json"),
    ]
    for env, lake in [("staging", emulated.lake), ("production", emulated.production_lake)]:
        local = ["--env", env, "--store", str(lake.root), "--format", "json"]
        # recommend's window fixed, so the answer is the same whatever day the tests run
        for command in (["recommend", "--no-history", *window], ["summary"]):
            ours, stderr = _json([*command, "--env", env, *remote])
            assert ours == _json([*command, *local])[0]
            assert re.findall(r"bigquery: ([\w ']+) billed ", stderr) == ["fetch_rows"], stderr
            if command[0] == "recommend":  # answers, not an empty window's
                assert sum(t["attempts"] for t in ours["timeouts"]) > 100, ours
            if (env, command[0]) == ("staging", "recommend"):  # in-life, from the payload
                assert ours["breaker"]["evidence"]["in_life"]["calls"] == 700
            if (env, command[0]) == ("staging", "summary"):  # the configs each revision ran
                assert [c["outcome"] for c in ours["configs"]] == ["loaded", "fallback"]


def test_ctrl_c_leaves_no_day_half_added(
    emulated: Emulated, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C before the MERGE is sent adds nothing, and after it ran its days are there whole;
    either way the command says so, and that a MERGE already sent may still end in BigQuery."""
    import analyzer.engine.bigquery as bigquery_engine

    dest = f"{PROJECT}.analyzer.interrupted"
    all_days = _lake_rows(emulated, START + timedelta(days=3))
    for pressed_at, held in [
        ("materialize: reading", []),
        ("bigquery: materialize billed", all_days),
    ]:

        def ctrl_c(line: str, at: str = pressed_at) -> None:
            if line.startswith(at):
                raise KeyboardInterrupt

        monkeypatch.setattr(bigquery_engine, "to_stderr", ctrl_c)
        result = _cli(emulated, "--source", SOURCE, "--dest", dest, "--since", "2026-11-20")
        assert result.exit_code == 130, result.output
        assert "interrupted; " in result.stderr and "whole or not at all" in result.stderr
        assert "may still end (bq show -j" in result.stderr and "Traceback" not in result.output
        assert _dest_rows(emulated, dest) == held


def test_the_cost_on_paper_meets_its_goals() -> None:
    """benchmarks/bigquery_scan_bytes.py at 100 M entries a week, four envs: a recommend over
    the table reads under 1 % of what it reads over the raw sink, and the week costs under
    $0.25 when each raw byte is read once; each figure follows from the measured ones."""
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bigquery_scan_bytes.py"
    done = subprocess.run(
        [sys.executable, str(script), "--json", "--sample-days", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    m = json.loads(done.stdout[done.stdout.index("{") :])
    assert 5 < m["rows_per_startup"] < 40 and 100 < m["bytes_per_row"] < 1000
    rows_week = 4 * 20 * 48 * 7 * m["rows_per_startup"]
    assert m["telemetry_rows_week"] == pytest.approx(rows_week)
    assert m["materialise_week_bytes"] == pytest.approx(1e8 * m["bytes_per_entry"])
    assert m["materialise_week_bytes_env_by_env"] == pytest.approx(4e8 * m["bytes_per_entry"])
    table = rows_week / 4 * 37 / 7 * m["bytes_per_row"]
    assert m["recommend_table_bytes"] == pytest.approx(max(table, 10 * 2**20))
    assert m["recommend_raw_bytes_one_table"] == pytest.approx(1e8 * 37 / 7 * m["bytes_per_entry"])
    assert m["ratio_sink_per_env"] < 0.01 and m["ratio_one_table"] < 0.01
    assert m["weekly_usd"] < 0.25 < m["weekly_usd_env_by_env"]


def test_help_teaches() -> None:
    """Each example is one command as written, and the options say their defaults here."""
    shown = CliRunner().invoke(main, ["bigquery", "materialize", "--help"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    examples = shown.output.split("Example:", 1)[1].split("\n\n", 2)[1].splitlines()
    assert examples and all(line.strip().startswith("analyze ") for line in examples)
    assert not [line for line in examples if "  " in line.strip()], examples
    options = " ".join(shown.output.split("Options:", 1)[1].split())
    assert "With --engine" not in options  # this command has none
    assert "Default: the tables'" in options and "[default: 10m]" in options
