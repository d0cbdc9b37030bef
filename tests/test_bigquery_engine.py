"""The BigQuery engine against a BigQuery emulator on 127.0.0.1, through the official client:
the same entries, loaded in both table shapes (a Log Router sink table, partitioned or
date-sharded, and Log Analytics' `_AllLogs`) and in both telemetry forms, give the local lake's
per-attempt numbers and its `recommend` and `summary` JSON; and a fleet of services whose newest
revision got slower gives the lake's `regressions` and `blame` JSON.

The emulator runs DuckDB under a GoogleSQL translator, so this proves the wiring and the
numbers; that the SQL is GoogleSQL is tests/test_bigquery_sql.py's job."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from analyzer.cli import main
from analyzer.engine import local_engine
from analyzer.engine.bigquery import BigQueryEngine, BytesLimitError, open_bigquery
from analyzer.lake.store import Store
from analyzer.simulate import SimulationManifest, SimulationSpec, simulate_entries
from analyzer.timewindow import plausible_time_params
from tests.bigquery_emulator import PROJECT, EmulatorUnavailable, running_emulator
from tests.bigquery_tables import (
    create_table,
    emulator_client,
    log_analytics_row,
    log_analytics_schema,
    sink_row,
    sink_schema,
)
from tests.conftest import emulator_cannot_start, write_ndjson

START = datetime(2026, 11, 20, tzinfo=UTC)
LOOKBACK = "3650d"  # the entries are older than the default 35 days back from now
# form -> env of its entries (a table of text lines is one env: the --env asked)
FORMS = {"structured": "staging", "text": "production"}


@dataclass
class Loaded:
    endpoint: str
    lakes: dict[str, Store]  # form -> local lake of the same entries
    sources: dict[tuple[str, str], str]  # (shape, form) -> PROJECT.DATASET.TABLE
    fleet_lake: Store  # a fleet with a slower newest revision, and its sink table
    fleet_source: str
    shards_lake: Store  # the fleet cut at 00:40 of its last day, and its date shards
    shards_source: str
    newest_lacks: set[str]  # jsonPayload fields older shards have and the newest lacks
    quiet_lake: Store  # the fleet with no VPC state change for 2.5 days, and its sink table
    quiet_source: str
    production_lake: Store  # production's text lines, and a table of them and the fleet's
    two_envs_source: str
    ingestion_lake: Store  # two recent days, and a sink table partitioned by ingestion time
    ingestion_source: str


def _entries(form: str) -> list[dict[str, Any]]:
    env = FORMS[form]
    spec = SimulationSpec(env=env, days=2, form=form, start=START, startups_per_hour=5)  # type: ignore[arg-type]
    manifest = SimulationManifest(env=env, form=form, start="", end="")
    entries = list(simulate_entries(spec, manifest))
    return entries + _config_loads(entries[0], form) + _breaker_summaries(entries[0], form)


def _config_loads(like: dict[str, Any], form: str) -> list[dict[str, Any]]:
    """`config_loaded` events as the runtime emits them, in the entries' form: two processes of
    one revision loaded a config (one of them delivered twice), one of another fell back. Their
    text lines are not among the seed's: the lake skips them, as the engine must."""
    loaded = {
        "config_path": "/etc/analyzer/timeouts.json",
        "env": FORMS[form],
        "service": "netra-backend-staging",
        "schema_version": 2,
        "generated_at": "2026-11-19T06:00:00+00:00",
        "config_sha256": "5e" * 32,
        "run_id": "a1b2c3d4",
        "outcome": "loaded",
    }
    fallback = {"env": FORMS[form], "outcome": "fallback", "error": "no config given"}
    # the env in another case (the lake matches it as the runtime does) and an unknown outcome
    # (the lake quarantines it)
    mismatch = {"env": FORMS[form].capitalize(), "outcome": "env-mismatch", "error": "prod's"}
    exploded = {"env": FORMS[form], "outcome": "exploded"}
    out = []
    for n, (revision, fields) in enumerate(
        [
            ("00001-7bd", loaded),
            ("00001-7bd", loaded),
            ("00002-x9q", fallback),
            ("00003-e5m", mismatch),
            ("00004-k2p", exploded),
        ]
    ):
        entry = _runtime_entry(like, form, "config_loaded", fields, f"config-{n}", f"0{n}:00")
        entry["resource"]["labels"]["revision_name"] = f"netra-backend-staging-{revision}"
        out.append(entry)
    return [*out, {**out[0], "receiveTimestamp": "2026-11-20T00:00:01Z"}]  # a repeat


def _runtime_entry(
    like: dict[str, Any], form: str, event: str, fields: dict[str, Any], name: str, at: str
) -> dict[str, Any]:
    """An entry like `like` holding the runtime's `event` in `form`, its own insert id and
    instance (`name`), at `at` (HH:MM) on the first day."""
    from analyzer.runtime.telemetry import structured_payload, text_line

    entry = json.loads(json.dumps(like))
    entry["insertId"] = name
    entry["timestamp"] = entry["receiveTimestamp"] = f"2026-11-20T{at}:00.000001Z"
    entry["labels"]["instanceId"] = f"{name}-instance"
    entry.pop("textPayload", None)
    entry.pop("jsonPayload", None)
    if form == "structured":
        entry["jsonPayload"] = structured_payload(event, fields)
    else:
        entry["textPayload"] = text_line(event, fields)
    return entry


# In-life `breaker_summary` events: the valid ones (structured, or their text lines), then ones
# the lake quarantines, each with calls enough to change the breaker's advice were it kept.
VALID_SUMMARIES = [
    {"vpc_state": "healthy", "calls": 400, "failures": 2, "slow_calls": 3, "rejected": 0},
    {"vpc_state": "healthy", "calls": 350, "failures": 1, "vpc_state_source": "monitor"},
    {"vpc_state": "healthy", "calls": 350, "failures": 1, "slow_threshold_s": 8.5},
    {"vpc_state": "critical", "calls": 300, "failures": 120, "slow_calls": 40, "rejected": 7},
    {"vpc_state": "critical", "calls": 250, "failures": 90, "breaker_state": "OPEN"},
    {"vpc_state": "unknown", "calls": 10, "failures": 0, "vpc_state_source": "none"},
]
INVALID_SUMMARIES = [
    {"vpc_state": "healthy", "calls": 50, "failures": 5000},  # failures exceed calls
    {"vpc_state": "healthy", "calls": 9000, "failures": 8000, "slow_threshold_s": 0},
    {"vpc_state": "healthy", "calls": 9000, "failures": 8000, "breaker_state": "AJAR"},
    {"vpc_state": "healthy", "calls": 9000, "failures": 8000, "window_s": 40 * 86400},
    {"vpc_state": "healthy", "calls": 9000, "failures": 8000, "window_s": None},
    {"vpc_state": "healthy", "calls": 9000, "failures": 10, "slow_calls": 9001},
    {"vpc_state": "critical", "calls": 9000, "failures": 0, "rejected": -1},
    # implausible for one process: over 10,000 calls a second of its window
    {"vpc_state": "healthy", "calls": 10**15, "failures": 0},
    {"vpc_state": "healthy", "calls": 9000, "failures": 8000, "window_s": 1e-300},
]
# only the text line can say these: a window that is not finite, a count that is not whole
INVALID_TEXT_SUMMARIES = [
    {"vpc_state": "healthy", "calls": 9000, "failures": 8000, "window_s": "inf"},
    {"vpc_state": "healthy", "calls": 9000, "failures": 8000, "slow_calls": "2.5"},
    {"vpc_state": "healthy", "calls": 9000, "failures": 8000, "slow_threshold_s": "fast"},
]
# only the structured form can say these
INVALID_STRUCTURED_SUMMARIES = [
    {"vpc_state": "healthy", "calls": 9000.5, "failures": 8000},
    {"vpc_state": "healthy", "calls": 9000, "failures": None},
]


def _breaker_summaries(like: dict[str, Any], form: str) -> list[dict[str, Any]]:
    """Each summary from its own process, in the entries' form; the first delivered twice."""
    invalid = INVALID_SUMMARIES + (
        INVALID_STRUCTURED_SUMMARIES if form == "structured" else INVALID_TEXT_SUMMARIES
    )
    out = []
    for n, change in enumerate(VALID_SUMMARIES + invalid):
        fields = {
            "env": FORMS[form],
            "window_s": 3600.0,
            "breaker_state": "CLOSED",
            "operation": "connection",
            **change,
        }
        out.append(
            _runtime_entry(like, form, "breaker_summary", fields, f"summary-{n}", f"{n + 1:02d}:30")
        )
    return [*out, {**out[0], "receiveTimestamp": "2026-11-20T01:30:01Z"}]  # a repeat


@pytest.fixture(scope="session")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    folder = tmp_path_factory.mktemp("bigquery")
    try:
        with running_emulator(folder / "emulator.log") as endpoint:
            yield _load(folder, endpoint)
    except EmulatorUnavailable as exc:
        emulator_cannot_start(f"no BigQuery emulator here: {exc}")


def _load(folder: Path, endpoint: str) -> Loaded:
    client = emulator_client(endpoint)
    lakes, sources = {}, {}
    for form, env in FORMS.items():
        entries = _entries(form)
        export = write_ndjson(folder / f"{form}.jsonl", entries)
        lakes[form] = Store(folder / f"lake-{form}")
        result = CliRunner().invoke(
            main, ["import", str(export), "--env", env, "--store", str(lakes[form].root)]
        )
        assert result.exit_code == 0, result.output
        for dataset in (f"sink_{form}", f"logs_{form}"):
            client.create_dataset(dataset)
        # the structured sink partitioned on timestamp; the text sink sharded by day, and with
        # no jsonPayload column at all (no entry ever had one)
        rows = [sink_row(e) for e in entries]
        if form == "structured":
            table = f"{PROJECT}.sink_{form}.run_googleapis_com_stdout"
            create_table(client, table, sink_schema(), rows)
        else:
            table = f"{PROJECT}.sink_{form}.run_googleapis_com_stdout"
            for day in sorted({r["timestamp"][:10] for r in rows}):
                shard = [r for r in rows if r["timestamp"].startswith(day)]
                name = f"{table}_{day.replace('-', '')}"
                create_table(client, name, sink_schema(with_json_payload=False), shard)
        sources["sink", form] = table
        sources["log-analytics", form] = f"{PROJECT}.logs_{form}._AllLogs"
        # and the same entries again in a log that is not the services' output (as
        # `_AllLogs` holds every log of the bucket): the engine reads stdout and stderr only
        other = [{**e, "insertId": f"{e['insertId']}-r"} for e in entries]
        create_table(
            client,
            sources["log-analytics", form],
            log_analytics_schema(),
            [
                *(log_analytics_row(e) for e in entries),
                *(log_analytics_row(e, "run.googleapis.com/requests") for e in other),
            ],
        )
    fleet_lake, fleet_source = _load_fleet(client, folder)
    shards_lake, shards_source, newest_lacks = _load_shards(client, folder)
    quiet_lake, quiet_source = _load_quiet(client, folder)
    production_lake, two_envs_source = _load_two_envs(client, folder)
    ingestion_lake, ingestion_source = _load_ingestion_time(client, folder)
    return Loaded(
        endpoint=endpoint,
        lakes=lakes,
        sources=sources,
        fleet_lake=fleet_lake,
        fleet_source=fleet_source,
        shards_lake=shards_lake,
        shards_source=shards_source,
        newest_lacks=newest_lacks,
        quiet_lake=quiet_lake,
        quiet_source=quiet_source,
        production_lake=production_lake,
        two_envs_source=two_envs_source,
        ingestion_lake=ingestion_lake,
        ingestion_source=ingestion_source,
    )


def _load_fleet(client: Any, folder: Path) -> tuple[Store, str]:
    """A week of backend and auth, a deploy every 3.5 days, backend's newest revision 1.3x
    slower in phase 3 (as tests/test_fleet.py makes one): in a lake and a partitioned sink."""
    export = folder / "fleet" / "fleet.jsonl"
    runner = CliRunner()
    made = runner.invoke(
        main,
        [
            "simulate", "--env", "staging", "--days", "7", "--out", str(export),
            "--services", "backend,auth", "--startups-per-hour", "1.6667",
            "--deploy-every", "3.5", "--regression", "backend:1.3", "--seed", "6",
        ],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    lake = Store(folder / "lake-fleet")
    imported = runner.invoke(
        main, ["import", str(export), "--env", "staging", "--store", str(lake.root)]
    )
    assert imported.exit_code == 0, imported.output
    entries = [json.loads(line) for line in export.read_text().splitlines()]
    client.create_dataset("fleet")
    table = f"{PROJECT}.fleet.run_googleapis_com_stdout"
    create_table(client, table, sink_schema(), [sink_row(e) for e in entries])
    return lake, table


def _fleet_entries(folder: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line) for line in (folder / "fleet" / "fleet.jsonl").read_text().splitlines()
    ]


def _lake_of(folder: Path, name: str, entries: list[dict[str, Any]]) -> Store:
    export = write_ndjson(folder / name / "entries.jsonl", entries)
    lake = Store(folder / f"lake-{name}")
    imported = CliRunner().invoke(
        main, ["import", str(export), "--env", "staging", "--store", str(lake.root)]
    )
    assert imported.exit_code == 0, imported.output
    return lake


QUIET = ("2026-10-27T12:00:00", "2026-10-30T00:00:00")  # no VPC state change in between


def _load_quiet(client: Any, folder: Path) -> tuple[Store, str]:
    """The fleet with its VPC state changes between QUIET's times left out: at a window that
    starts a day before QUIET ends, the state in force began more than a day before the scan."""
    kept = [
        e
        for e in _fleet_entries(folder)
        if e.get("jsonPayload", {}).get("event") != "vpc_state_changed"
        or not QUIET[0] <= e["timestamp"] < QUIET[1]
    ]
    lake = _lake_of(folder, "quiet", kept)
    client.create_dataset("quiet")
    table = f"{PROJECT}.quiet.run_googleapis_com_stdout"
    create_table(client, table, sink_schema(), [sink_row(e) for e in kept])
    return lake, table


def _load_ingestion_time(client: Any, folder: Path) -> tuple[Store, str]:
    """Two days ending yesterday in a sink table partitioned by ingestion time (no partition
    column). The emulator puts every row in today's partition (its _PARTITIONTIME is now), as
    BigQuery does rows streamed today: recent days, so the filter keeps what it should."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    spec = SimulationSpec(env="staging", days=2, start=today - timedelta(days=3))
    manifest = SimulationManifest(env="staging", form="structured", start="", end="")
    entries = list(simulate_entries(spec, manifest))
    lake = _lake_of(folder, "ingestion", entries)
    from google.cloud import bigquery

    client.create_dataset("ingestion")
    table = f"{PROJECT}.ingestion.run_googleapis_com_stdout"
    made = bigquery.Table(table, schema=sink_schema())
    made.time_partitioning = bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY)
    client.create_table(made)
    rows = [sink_row(e) for e in entries]
    for at in range(0, len(rows), 1000):
        assert not client.insert_rows_json(table, rows[at : at + 1000])
    return lake, table


def _load_two_envs(client: Any, folder: Path) -> tuple[Store, str]:
    """One sink table of two envs: the fleet's structured staging entries and a week of
    production's text lines (which name no env), over the same days."""
    export = folder / "production" / "text.jsonl"
    made = CliRunner().invoke(
        main,
        [
            "simulate", "--env", "production", "--form", "text", "--days", "7",
            "--services", "backend", "--startups-per-hour", "1", "--seed", "7",
            "--out", str(export),
        ],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    lake = Store(folder / "lake-production")
    imported = CliRunner().invoke(
        main, ["import", str(export), "--env", "production", "--store", str(lake.root)]
    )
    assert imported.exit_code == 0, imported.output
    production = [json.loads(line) for line in export.read_text().splitlines()]
    client.create_dataset("two_envs")
    table = f"{PROJECT}.two_envs.run_googleapis_com_stdout"
    rows = [sink_row(e) for e in [*_fleet_entries(folder), *production]]
    create_table(client, table, sink_schema(), rows)
    return lake, table


def _load_shards(client: Any, folder: Path) -> tuple[Store, str, set[str]]:
    """The fleet's entries up to 00:40 UTC of its last day, as a structured sink shards them by
    day: each day's shard has the payload fields its entries carried, so the newest (a partial
    day) lacks some the others have."""
    entries = [
        json.loads(line) for line in (folder / "fleet" / "fleet.jsonl").read_text().splitlines()
    ]
    last_day = max(e["timestamp"][:10] for e in entries)
    kept = [e for e in entries if e["timestamp"] < f"{last_day}T00:40:00"]
    export = write_ndjson(folder / "shards" / "cut.jsonl", kept)
    lake = Store(folder / "lake-shards")
    imported = CliRunner().invoke(
        main, ["import", str(export), "--env", "staging", "--store", str(lake.root)]
    )
    assert imported.exit_code == 0, imported.output
    client.create_dataset("shards")
    table = f"{PROJECT}.shards.run_googleapis_com_stdout"
    fields: dict[str, set[str]] = {}
    for day in sorted({e["timestamp"][:10] for e in kept}):
        rows = [sink_row(e) for e in kept if e["timestamp"].startswith(day)]
        fields[day] = {k for r in rows for k in r.get("jsonPayload", {})}
        schema = sink_schema(payload_fields=fields[day])
        create_table(client, f"{table}_{day.replace('-', '')}", schema, rows)
    older = set().union(*(f for day, f in fields.items() if day != last_day))
    return lake, table, older - fields[last_day]


CASES = [(shape, form) for shape in ("sink", "log-analytics") for form in FORMS]


def _engine(loaded: Loaded, shape: str, form: str) -> BigQueryEngine:
    engine = open_bigquery(
        source=loaded.sources[shape, form], endpoint=loaded.endpoint, anonymous=True
    )
    engine.lookback = timedelta(days=3650)
    return engine


def _by_group(keys: list[tuple[Any, ...]], columns: dict[str, np.ndarray]) -> dict[Any, Any]:
    """Each group's size and its attempts' numbers, sorted (the rows come unordered); NULL as
    NaN, as the analysis reads them; every number exactly (repr)."""
    out = {}
    gid = np.asarray(columns["gid"])
    numbers = {
        c: np.ma.filled(np.ma.asarray(columns[c], dtype=np.float64), np.nan)
        for c in ("started_s", "ended_s", "duration_s", "observed", "timeout_s")
    }
    for g, service, phase, operation, state, attempts in keys:
        rows = zip(*(column[gid == g] for column in numbers.values()), strict=True)
        cells = sorted(tuple(repr(float(x)) for x in row) for row in rows)
        out[service, int(phase), operation, state] = (int(attempts), cells)
    return out


@pytest.mark.parametrize(("shape", "form"), CASES)
def test_per_attempt_numbers_equal_the_lakes(loaded: Loaded, shape: str, form: str) -> None:
    env = FORMS[form]
    params = {"env": env, "start": START, "end": START + timedelta(days=3)}
    engine = _engine(loaded, shape, form)
    assert engine.shape == ("sink-shards" if (shape, form) == ("sink", "text") else shape)
    ours = _by_group(*engine.attempt_columns(params))
    lakes = _by_group(*local_engine(loaded.lakes[form]).attempt_columns(params))
    assert sum(n for n, _ in lakes.values()) > 200
    assert ours == lakes


@pytest.mark.parametrize(("shape", "form"), CASES)
def test_breaker_summaries_equal_the_lakes(loaded: Loaded, shape: str, form: str) -> None:
    """Their counts, and where each process's VPC state came from (NULL: not said)."""
    params = {"env": FORMS[form], "start": START, "end": START + timedelta(days=3)}
    columns = ("vpc_state", "calls", "failures", "breaker_state", "vpc_state_source")

    def rows(engine: Any) -> list[tuple[Any, ...]]:
        found = engine.rows("breaker_summaries", params)
        return sorted((tuple(row[c] for c in columns) for row in found), key=repr)

    ours = rows(_engine(loaded, shape, form))
    assert ours == rows(local_engine(loaded.lakes[form]))
    assert [r[-1] for r in ours].count(None) == len(ours) - 2
    assert {r[-1] for r in ours} == {"monitor", "none", None}


def _json(args: list[str]) -> dict[str, Any]:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    data.pop("generated_at", None)
    data.pop("run_id", None)  # each run has its own
    return dict(data)


@pytest.mark.parametrize(("shape", "form"), CASES)
def test_recommend_json_equals_the_lakes(
    loaded: Loaded, shape: str, form: str, tmp_path: Path
) -> None:
    """And `summary` too, with the config each revision ran with; the history written to the
    local store and each query's bytes printed (to stderr). The breaker's advice read the valid
    in-life summaries (text lines too) and none of those the lake quarantines."""
    env, lake, history = FORMS[form], str(loaded.lakes[form].root), tmp_path / "history"
    remote = [
        *("--engine", "bigquery", "--source", loaded.sources[shape, form]),
        *("--bq-endpoint", loaded.endpoint, "--anonymous", "--lookback", LOOKBACK),
        *("--store", str(history), "--format", "json", "--env", env),
    ]
    local = ["--env", env, "--store", lake, "--format", "json"]
    recommended = _json(["recommend", *remote])
    assert recommended == _json(["recommend", "--no-history", *local])
    breaker = recommended["breaker"]
    valid_calls = sum(s["calls"] for s in VALID_SUMMARIES)
    assert breaker["mode"] == "consecutive" and breaker["evidence"]["per_process"] is not None
    assert breaker["evidence"]["in_life"]["summaries"] == len(VALID_SUMMARIES)
    assert breaker["evidence"]["in_life"]["calls"] == valid_calls
    assert len(list(history.rglob("rec_*.json"))) == 1
    result = CliRunner().invoke(main, ["summary", *remote])
    assert "bigquery: 0.00 GiB to scan (0 bytes)" in result.stderr
    ours = json.loads(result.stdout)
    assert ours == json.loads(CliRunner().invoke(main, ["summary", *local]).stdout)
    # which config each revision ran with: known from structured events only
    configs = [(c["revision"][-9:], c["outcome"], c["processes"]) for c in ours["configs"]]
    if form == "structured":
        assert configs == [
            ("00001-7bd", "loaded", 2),
            ("00002-x9q", "fallback", 1),
            ("00003-e5m", "env-mismatch", 1),
        ]
        assert ours["configs"][0]["config_sha256"] == "5e" * 32
    else:
        assert configs == []


def _recommend_as_the_lake(
    loaded: Loaded, source: str, lake: Store
) -> tuple[BigQueryEngine, dict[str, Any]]:
    """The engine over `source` (staging's), and its recommend JSON over the last 7 days,
    checked equal to the lake's."""
    engine = open_bigquery(source=source, endpoint=loaded.endpoint, anonymous=True)
    args = ["--since", "7d", "--format", "json", "--no-history"]
    ours = _json(["recommend", *_remote(loaded, source, "staging"), *args])
    assert ours == _json(["recommend", "--env", "staging", "--store", str(lake.root), *args])
    return engine, ours


def test_date_shards_whose_schemas_differ_give_the_lakes_recommend(loaded: Loaded) -> None:
    """Each shard read with its own columns: the fields the newest shard lacks are NULL there
    only, so no phase_failed or timeout of the older days is lost."""
    assert {"error_type", "error"} <= loaded.newest_lacks
    engine, ours = _recommend_as_the_lake(loaded, loaded.shards_source, loaded.shards_lake)
    assert engine.shape == "sink-shards" and len(engine.shard_ids) >= 7
    assert sum(g["attempts"] for g in ours["timeouts"]) > 1000
    assert sum(g["attempts"] - g["completed"] for g in ours["timeouts"]) > 20  # failed ones


def test_a_recommend_over_date_shards_bills_two_queries_at_most(loaded: Loaded) -> None:
    """The shards' schemas are read by tables.get (metadata, no query job) as the scans reach
    their days: a table-format recommend over shards whose newest lacks fields bills the two
    fetches at most, and prints the lake's table."""
    args = ["--env", "staging", "--since", "7d", "--no-history"]
    lakes = CliRunner().invoke(main, ["recommend", *args, "--store", str(loaded.shards_lake.root)])
    assert lakes.exit_code == 0, lakes.output
    raw = CliRunner().invoke(
        main, ["recommend", *_remote(loaded, loaded.shards_source, "staging"), *args[2:]]
    )
    assert raw.exit_code == 0, raw.output
    assert 1 <= len(_billed(raw.stderr)) <= 2, raw.stderr
    assert set(_billed(raw.stderr)) == {"fetch_rows"}, raw.stderr
    assert "reading the columns of " in raw.stderr
    assert _unnamed(raw.stdout) == _unnamed(lakes.stdout)


def test_a_quiet_vpc_timeline_gives_the_lakes_attempts(loaded: Loaded) -> None:
    """The VPC state in force at the window's start began 1.5 days before its span: the fetch
    of the window looks for it within --lookback before the span (in the same query), as the
    lake keeps the whole timeline; a question over the --lookback fetched first needs none."""
    engine = open_bigquery(source=loaded.quiet_source, endpoint=loaded.endpoint, anonymous=True)
    lines: list[str] = []
    engine.report, engine.lookback = lines.append, timedelta(days=2)
    engine.now = lambda: datetime(2026, 10, 31, tzinfo=UTC)  # the --lookback: from 10-29
    engine.rows("env_time_range", {"env": "staging", **plausible_time_params()})
    start = datetime(2026, 10, 29, tzinfo=UTC)
    params = {"env": "staging", "start": start, "end": datetime(2026, 10, 31, tzinfo=UTC)}
    ours = _by_group(*engine.attempt_columns(params))
    assert ours == _by_group(*local_engine(loaded.quiet_lake).attempt_columns(params))
    assert engine.jobs == 2
    began = [re.search(r"in force at 2026-10-28 00:00 UTC began (\S+ \S+) UTC", x) for x in lines]
    found = [m[1] for m in began if m]
    assert found and found[0] < QUIET[0].replace("T", " "), lines  # over a day before the span
    assert len({k[3] for k in ours}) >= 2  # VPC states


def test_a_window_inside_the_lookback_bills_one_query(loaded: Loaded) -> None:
    """A run with a window a day shorter than --lookback (--since 3d, --lookback 4d; opened as
    the CLI opens it) whose env logged last 20 hours ago: its first fetch, over --lookback,
    takes the day before it too, so the window and its day before are held, and the VPC state
    at its start is a change held before it (in that day): one query job, the lake's
    attempts. In the quiet timeline no change is held there: the state alone is looked for,
    back --lookback from the span only."""
    for source, lake, jobs in (
        (loaded.fleet_source, loaded.fleet_lake, 1),
        (loaded.quiet_source, loaded.quiet_lake, 2),
    ):
        last = datetime(2026, 11, 1, 12, tzinfo=UTC) if jobs == 2 else _last_ts(lake)
        now, lookback = last + timedelta(hours=20), timedelta(days=4)
        engine = open_bigquery(
            source=source,
            endpoint=loaded.endpoint,
            anonymous=True,
            lookback=lookback,
            window=(now - lookback - timedelta(days=3), now),
        )
        lines: list[str] = []
        engine.report, engine.now = lines.append, lambda now=now: now
        engine.rows("env_time_range", {"env": "staging", **plausible_time_params()})
        params = {"env": "staging", "start": last - timedelta(days=3), "end": last}
        ours = _by_group(*engine.attempt_columns(params))
        assert ours == _by_group(*local_engine(lake).attempt_columns(params))
        assert sum(n for n, _ in ours.values()) > 300
        assert engine.jobs == jobs, "\n".join(lines)
        state = [x for x in lines if x.startswith("bigquery: fetching the VPC state in force")]
        assert len(state) == jobs - 1, lines
        assert len({k[3] for k in ours}) >= 2  # VPC states


def _last_ts(lake: Store) -> datetime:
    found = local_engine(lake).rows("env_time_range", {"env": "staging", **plausible_time_params()})
    last = found[0]["last_ts"]
    assert isinstance(last, datetime)
    return last


def test_an_ingestion_time_partitioned_sink_gives_the_lakes_recommend(loaded: Loaded) -> None:
    """Detected from the table (time partitioning without a field) and read through
    _PARTITIONTIME, the only filter that prunes such a table."""
    engine, ours = _recommend_as_the_lake(loaded, loaded.ingestion_source, loaded.ingestion_lake)
    assert engine.shape == "sink-ingestion"
    assert sum(g["attempts"] for g in ours["timeouts"]) > 200


def test_two_envs_in_one_table_are_told_apart_or_refused(loaded: Loaded) -> None:
    """Production's text lines name no env: beside staging's structured entries the engine
    refuses to count them as either env, in one line saying what and how to fix it; with each
    env's services named, each env's recommend equals its own lake's."""
    args = ["--since", "7d", "--format", "json", "--no-history"]
    for env in ("staging", "production"):
        refused = CliRunner().invoke(
            main, ["recommend", *_remote(loaded, loaded.two_envs_source, env), *args]
        )
        assert refused.exit_code == 1, refused.output
        line = refused.stderr.strip().splitlines()[-1]
        assert "text lines that say no env (services netra-backend-production)" in line
        assert "staging: " in line and "--source-services" in line
    for env, services, lake in (
        ("staging", "netra-backend-staging,netra-auth-staging", loaded.fleet_lake),
        ("production", "netra-backend-production", loaded.production_lake),
    ):
        remote = [*_remote(loaded, loaded.two_envs_source, env), "--source-services", services]
        local = ["--env", env, "--store", str(lake.root)]
        ours = _json(["recommend", *remote, *args])
        assert ours == _json(["recommend", *local, *args])
        assert sum(g["attempts"] for g in ours["timeouts"]) > 500


def _remote(loaded: Loaded, source: str, env: str) -> list[str]:
    return [
        *("--engine", "bigquery", "--source", source, "--bq-endpoint", loaded.endpoint),
        *("--anonymous", "--lookback", LOOKBACK, "--env", env),
    ]


def test_regressions_and_blame_json_equal_the_lakes(loaded: Loaded) -> None:
    """Over the fleet's sink table, and `blame` over each `_AllLogs` too; recommend's note of
    what the newest revisions changed comes from BigQuery as well."""
    remote = _remote(loaded, loaded.fleet_source, "staging")
    local = ["--env", "staging", "--store", str(loaded.fleet_lake.root)]
    window = ["--since", "7d", "--format", "json"]
    found = _json(["regressions", *remote, *window])
    assert found == _json(["regressions", *local, *window])
    flagged = {(c["service"], c["phase"]) for c in found["comparisons"] if c["flagged"]}
    assert ("netra-backend-staging", 3) in flagged
    blamed = _json(["blame", *remote, *window, "--top", "5"])
    assert blamed == _json(["blame", *local, *window, "--top", "5"])
    assert len(blamed["slowest"]) == 5
    # the engine settings from the project file, for the env
    project = loaded.fleet_lake.root.parent / "analyzer.toml"
    project.write_text(
        f'[env.staging]\nengine = "bigquery"\nsource = "{loaded.fleet_source}"\n'
        'max-bytes-billed = "1GiB"\n'
    )
    from_file = CliRunner(env={"ANALYZER_BQ_SOURCE": None}).invoke(
        main,
        [
            *("--project-file", str(project), "blame", "--env", "staging", *window),
            *("--top", "5", "--bq-endpoint", loaded.endpoint, "--anonymous"),
            *("--lookback", LOOKBACK),
        ],
    )
    assert from_file.exit_code == 0, from_file.output
    assert "bigquery: 0.00 GiB to scan" in from_file.stderr
    assert json.loads(from_file.stdout) == blamed
    for form, env in FORMS.items():
        args = [*window, "--top", "3"]
        remote_la = _remote(loaded, loaded.sources["log-analytics", form], env)
        local_la = ["--env", env, "--store", str(loaded.lakes[form].root)]
        assert _json(["blame", *remote_la, *args]) == _json(["blame", *local_la, *args])
    note = CliRunner().invoke(main, ["recommend", *remote, "--no-history", "--since", "7d"])
    assert note.exit_code == 0, note.output
    assert "Changed since the revisions before (analyze regressions):" in note.stdout
    assert "slower: netra-backend-staging" in note.stdout


def test_over_the_byte_limit_is_one_clear_line(loaded: Loaded) -> None:
    engine = _engine(loaded, "sink", "structured")
    engine.max_bytes_billed = -1  # the emulator's dry runs report 0 bytes
    with pytest.raises(BytesLimitError, match=r"over the run's --max-bytes-billed .* raise it"):
        engine.rows("env_time_range", {"env": "staging"})
    # the budget is the run's: what its jobs billed before counts
    engine.max_bytes_billed, engine.billed = 2 * 1024**3, 2 * 1024**3 + 1
    with pytest.raises(BytesLimitError, match=r"after 2.00 GiB this run has billed"):
        engine.rows("env_time_range", {"env": "staging"})


def test_jobs_say_what_they_billed_and_carry_the_run_settings(loaded: Loaded) -> None:
    """Each job's bytes billed and slot time on stderr, with the run's total against its
    budget; the jobs run in --billing-project and --location, labelled with the command."""
    remote = _remote(loaded, loaded.sources["sink", "structured"], "staging")
    settings = ["--billing-project", PROJECT, "--location", "US", "--job-timeout", "5m"]
    result = CliRunner().invoke(main, ["summary", *remote, *settings])
    assert result.exit_code == 0, result.output
    billed = re.findall(
        r"bigquery: (\w+) billed .* slot time .* s; this run .* of 256\.00 GiB", result.stderr
    )
    assert billed == ["fetch_rows"], result.stderr  # every question answered from one fetch
    engine = open_bigquery(
        source=loaded.sources["sink", "structured"],
        endpoint=loaded.endpoint,
        anonymous=True,
        billing_project=PROJECT,
        location="US",
        labels={"command": "summary", "env": "staging"},
    )
    assert engine.client.project == PROJECT and engine.client.location == "US"
    params = {"env": "staging", "fetch_start": START, "fetch_end": START}
    params |= {"scan_start": START, "scan_end": START}
    job = engine._run(engine._compose("fetch_rows", params), params)
    assert job.location in (None, "US")
    assert engine.labels == {"app": "analyzer", "command": "summary", "env": "staging"}


def test_a_missing_source_is_one_line(loaded: Loaded) -> None:
    result = CliRunner().invoke(
        main,
        [
            "summary",
            "--env",
            "staging",
            "--engine",
            "bigquery",
            "--source",
            f"{PROJECT}.sink_structured.no_such_table",
            "--bq-endpoint",
            loaded.endpoint,
            "--anonymous",
        ],
    )
    assert result.exit_code == 1
    assert "no such table or view" in result.stderr
    assert "Traceback" not in result.output


def test_bigquery_needs_a_source_and_a_size_it_can_read(tmp_path: Path) -> None:
    from analyzer.cli.main import parse_bytes

    assert parse_bytes("10GiB") == 10 * 2**30
    assert parse_bytes("500MB") == 500 * 10**6
    assert parse_bytes("1234") == 1234
    for args, message in (
        (["--engine", "bigquery"], "needs --source PROJECT.DATASET.TABLE"),
        (
            ["--engine", "bigquery", "--source", "a.b.c", "--max-bytes-billed", "lots"],
            "invalid size",
        ),
        (["--engine", "bigquery", "--source", "no-dots"], "invalid --source"),
    ):
        result = CliRunner(env={"ANALYZER_BQ_SOURCE": None}).invoke(
            main, ["summary", "--env", "staging", "--store", str(tmp_path), *args]
        )
        assert result.exit_code == 1, result.output
        assert message in result.stderr
        assert "Traceback" not in result.output


def test_summary_and_backtest_per_service_equal_the_lakes(loaded: Loaded) -> None:
    """Over the fleet's sink table: every service, and one picked out by --service (an array
    parameter); the backtest's rows per service and state, each number the lake's."""
    remote = _remote(loaded, loaded.fleet_source, "staging")
    local = ["--env", "staging", "--store", str(loaded.fleet_lake.root)]
    for picked in ([], ["--service", "netra-auth-staging"]):
        ours = _json(["summary", *remote, "--format", "json", *picked])
        lakes = _json(["summary", *local, "--format", "json", *picked])
        assert ours == lakes  # configs included: the fleet's processes logged none
        assert {p["service"] for p in ours["phases"]} == (
            {"netra-auth-staging", "netra-backend-staging"} if not picked else {picked[1]}
        )
        replay = ["backtest", "--timeout-s", "20", "--since", "7d", "--format", "json", *picked]
        ours, lakes = _json([*replay, *remote]), _json([*replay, *local])
        assert [(s["service"], s["vpc_state"]) for s in ours["states"]] == [
            (s["service"], s["vpc_state"]) for s in lakes["states"]
        ]
        for mine, theirs in zip(
            [*ours["states"], ours["overall"]], [*lakes["states"], lakes["overall"]], strict=True
        ):
            text = {k: v for k, v in mine.items() if isinstance(v, str)}
            assert text == {k: v for k, v in theirs.items() if isinstance(v, str)}
            numbers = {k: v for k, v in mine.items() if k not in text}
            assert numbers == pytest.approx({k: theirs[k] for k in numbers}, rel=1e-9)
    unknown = CliRunner().invoke(main, ["summary", *remote, "--service", "netra-x"])
    assert unknown.exit_code == 1
    assert "services found: netra-auth-staging, netra-backend-staging" in unknown.stderr


def _counted_by_group(
    keys: list[tuple[Any, ...]], columns: dict[str, np.ndarray]
) -> dict[Any, Any]:
    """Each group's size and its count rows, sorted; every number exactly (repr)."""
    gid = np.asarray(columns["gid"])
    names = ("day_s", "duration_s", "observed", "timeout_s", "counted", "last_started_s")
    numbers = {c: np.ma.filled(np.ma.asarray(columns[c], dtype=np.float64), np.nan) for c in names}
    out = {}
    for g, service, phase, operation, state, attempts in keys:
        rows = zip(*(column[gid == g] for column in numbers.values()), strict=True)
        out[service, int(phase), operation, state] = (
            int(attempts),
            sorted(tuple(map(repr, r)) for r in rows),
        )
    return out


@pytest.mark.parametrize(("shape", "form"), [("sink", "text"), ("log-analytics", "structured")])
def test_counts_equal_the_lakes(loaded: Loaded, shape: str, form: str, tmp_path: Path) -> None:
    """The window's attempts counted in BigQuery equal the lake's counts, and `recommend` over
    them gives the timeouts the lake gives over one row an attempt."""
    env = FORMS[form]
    params = {"env": env, "start": START, "end": START + timedelta(days=3)}
    ours = _counted_by_group(*_engine(loaded, shape, form).attempt_counts(params))
    lakes = _counted_by_group(*local_engine(loaded.lakes[form]).attempt_counts(params))
    assert ours == lakes and sum(n for n, _ in lakes.values()) > 200
    remote = [
        *("--engine", "bigquery", "--source", loaded.sources[shape, form]),
        *("--bq-endpoint", loaded.endpoint, "--anonymous", "--lookback", LOOKBACK),
        *("--store", str(tmp_path), "--no-history", "--format", "json", "--env", env),
    ]
    local = ["--env", env, "--store", str(loaded.lakes[form].root), "--format", "json"]
    counted = _json(["recommend", *remote, "--attempt-rows", "counts"])
    rows = _json(["recommend", "--no-history", *local, "--attempt-rows", "rows"])
    keys = (
        "service",
        "phase",
        "operation",
        "vpc_state",
        "attempts",
        "timeout_s",
        "current_timeout_s",
    )
    assert [{k: t[k] for k in keys} for t in counted["timeouts"]] == [
        {k: t[k] for k in keys} for t in rows["timeouts"]
    ]
    assert counted["breaker"]["failure_threshold"] == rows["breaker"]["failure_threshold"]


# What the lake's queries read from `payload`, by event (telemetry_rows.sql rebuilds just these).
PAYLOAD_READ = {
    "breaker_summary": (
        "window_s", "calls", "failures", "slow_calls", "slow_threshold_s", "rejected",
        "vpc_state_source",
    ),
    "config_loaded": (
        "outcome", "config_path", "generated_at", "config_sha256", "run_id", "error",
    ),
    "vpc_state_changed": ("vpc_instances", "vpc_max_instances"),
}  # fmt: skip


def _fetch(
    engine: BigQueryEngine, env: str, start: datetime, end: datetime, since: datetime | None = None
) -> list[Any]:
    """fetch_rows.sql's rows over [start, end), the scan starting at `since` (else `start`):
    kind, the lake's columns, entries."""
    params = {
        **{"env": env, "fetch_start": start, "fetch_end": end},
        **{"scan_start": since or start, "scan_end": end},
    }
    job = engine._run(engine._compose("fetch_rows", params), params)
    return list(engine._arrow(job).to_pylist())


def _dicts(cursor: Any) -> list[dict[str, Any]]:
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _comparable(row: dict[str, Any]) -> tuple[Any, ...]:
    """A row's lake columns (payload: the fields the lake reads from it, numbers as floats)."""
    from analyzer.engine.bigquery_sql import LAKE_COLUMNS

    payload = json.loads(row["payload"] or "{}")
    if not isinstance(payload, dict):
        payload = {}
    read = tuple(
        float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
        for v in (payload.get(k) for k in PAYLOAD_READ.get(row["event"], ()))
    )
    return (*(row[c] for c, _ in LAKE_COLUMNS if c != "payload"), read)


@pytest.mark.parametrize(("shape", "form"), [("sink", "structured"), ("sink", "text")])
def test_telemetry_rows_are_the_lakes_rows(loaded: Loaded, shape: str, form: str) -> None:
    """One env's rows fetched in the lake's columns equal the lake's, row for row; loaded into a
    table of those columns, that table is read as shape `lake` and gives the same rows."""
    env = FORMS[form]
    start, end = START - timedelta(days=1), START + timedelta(days=3)
    engine = _engine(loaded, shape, form)
    fetched = _fetch(engine, env, start, end)
    rows = [r for r in fetched if r["kind"] == "row"]
    con = local_engine(loaded.lakes[form])
    lakes = con.ask(lambda c: _dicts(c.execute("SELECT * FROM events WHERE env = ?", [env])))
    assert len(rows) > 1000
    assert sorted(map(_comparable, rows), key=repr) == sorted(map(_comparable, lakes), key=repr)
    assert any(r["event"] == "breaker_summary" and '"calls":400' in r["payload"] for r in rows)
    # the entries by env, form and service, and no VPC state before the first entry
    mix = {(r["env"], r["form"], r["service"]): r["entries"] for r in fetched if r["kind"] == "mix"}
    assert sum(mix.values()) == len(rows) and {k[:2] for k in mix} == {(env, form)}
    assert not [r for r in fetched if r["kind"] == "prior"]
    # the VPC state in force at a later start: the last change before it
    later = START + timedelta(days=1)
    prior = [r for r in _fetch(engine, env, later, end, start) if r["kind"] == "prior"]
    changes = [r for r in rows if r["event"] == "vpc_state_changed" and r["ts"] < later]
    assert [p["insert_id"] for p in prior] == [max(changes, key=lambda r: r["ts"])["insert_id"]]
    if form == "structured":  # in a table of the lake's columns, read as shape lake
        table = _as_lake_table(loaded, rows, "telemetry")
        lake = open_bigquery(source=table, endpoint=loaded.endpoint, anonymous=True)
        assert lake.shape == "lake"
        again = [r for r in _fetch(lake, env, start, end) if r["kind"] == "row"]
        assert sorted(map(_comparable, again), key=repr) == sorted(map(_comparable, rows), key=repr)


def _as_lake_table(loaded: Loaded, rows: list[dict[str, Any]], name: str) -> str:
    """`rows` in a table of the lake's columns, partitioned by day and clustered by env and
    service as `analyze bigquery materialize` keeps it, beside a row of another env."""
    from google.cloud import bigquery

    from analyzer.engine.bigquery_sql import LAKE_COLUMNS
    from tests.bigquery_tables import lake_schema

    client = _engine(loaded, "sink", "structured").client
    client.create_dataset("lake_shape", exists_ok=True)
    table = f"{PROJECT}.lake_shape.{name}"
    made = bigquery.Table(table, schema=lake_schema())
    made.time_partitioning = bigquery.TimePartitioning(field="ts")
    made.clustering_fields = ["env", "service"]
    client.create_table(made)
    other = {**rows[0], "insert_id": "other-env", "env": "production"}  # not read for staging
    records = [
        {c: r[c].isoformat() if isinstance(r[c], datetime) else r[c] for c, _ in LAKE_COLUMNS}
        for r in [*rows, other]
    ]
    for at in range(0, len(records), 1000):
        assert not client.insert_rows_json(table, records[at : at + 1000])
    return table


def _unnamed(table: str) -> str:
    """recommend's table without its run's id (each run has its own)."""
    return re.sub(r"\brun [0-9a-f]{8}\b", "run <id>", table)


def _billed(stderr: str) -> list[str]:
    """The query jobs a run billed, by statement, as it prints them."""
    return re.findall(r"bigquery: ([\w ']+) billed ", stderr)


def test_a_recommend_fetches_twice_over_the_sink_and_once_over_a_lake_table(
    loaded: Loaded,
) -> None:
    """A table-format recommend over the raw sink bills 2 query jobs (the --lookback, then the
    rest of the window with the VPC state before it), over a table of the lake's columns 1
    (the run's whole span up front); both print the lake's table."""
    found = local_engine(loaded.fleet_lake).rows(
        "env_time_range", {"env": "staging", **plausible_time_params()}
    )
    last = found[0]["last_ts"]
    assert isinstance(last, datetime)
    # a --lookback that reaches a day or two into the entries: the 5-day window reaches further
    lookback = (datetime.now(UTC) - last).days + 2
    args = ["--env", "staging", "--since", "5d", "--no-history"]
    remote = ["--engine", "bigquery", "--bq-endpoint", loaded.endpoint, "--anonymous"]
    remote += ["--lookback", f"{lookback}d"]
    lakes = CliRunner().invoke(main, ["recommend", *args, "--store", str(loaded.fleet_lake.root)])
    assert lakes.exit_code == 0, lakes.output
    raw = CliRunner().invoke(main, ["recommend", *args, *remote, "--source", loaded.fleet_source])
    assert raw.exit_code == 0, raw.output
    assert _billed(raw.stderr) == ["fetch_rows", "fetch_rows"], raw.stderr
    assert _unnamed(raw.stdout) == _unnamed(lakes.stdout)
    # the same entries in a table of the lake's columns
    engine = open_bigquery(source=loaded.fleet_source, endpoint=loaded.endpoint, anonymous=True)
    rows = _fetch(engine, "staging", last - timedelta(days=10), last + timedelta(days=1))
    table = _as_lake_table(loaded, [r for r in rows if r["kind"] == "row"], "fleet")
    lake = CliRunner().invoke(main, ["recommend", *args, *remote, "--source", table])
    assert lake.exit_code == 0, lake.output
    assert _billed(lake.stderr) == ["fetch_rows"], lake.stderr
    assert _unnamed(lake.stdout) == _unnamed(lakes.stdout)


def test_a_question_asked_again_is_not_fetched_again(loaded: Loaded) -> None:
    """What a run fetched is held: a question asked again, or over a span within what is held,
    is answered from it with no query job (here the first, over --lookback, held it all)."""
    engine = _engine(loaded, "sink", "structured")
    overview = engine.rows("env_overview", {"env": "staging", **plausible_time_params()})
    assert overview[0]["events"] > 1000 and engine.jobs == 1
    params = {"env": "staging", "start": START, "end": START + timedelta(days=2)}
    first = _by_group(*engine.attempt_columns(params))
    assert _by_group(*engine.attempt_columns(params)) == first
    assert engine.rows("breaker_summaries", {**params, "end": START + timedelta(days=1)})
    assert engine.rows("env_overview", {"env": "staging", **plausible_time_params()}) == overview
    assert engine.jobs == 1


def test_capacity_json_equals_the_lakes(loaded: Loaded) -> None:
    """`capacity` reads the fetched rows with the lake's queries, as every command does."""
    remote = _remote(loaded, loaded.fleet_source, "staging")
    local = ["--env", "staging", "--store", str(loaded.fleet_lake.root)]
    args = ["--since", "2w", "--format", "json"]
    ours = _json(["capacity", *remote, *args])
    assert ours == _json(["capacity", *local, *args])
    assert sum(r["strained_share"] or 0 for r in ours["hour_of_week"]) > 0


def test_ctrl_c_while_a_job_runs_asks_bigquery_to_cancel_it(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the engine waits for a job: the job is cancelled in BigQuery (nothing keeps
    running, and billing, unseen), the line says which, and the interrupt goes on to the CLI."""
    from google.cloud.bigquery.job import QueryJob

    cancelled: list[str] = []
    sent = QueryJob.cancel

    def watched_cancel(job: QueryJob, **kwargs: Any) -> bool:
        cancelled.append(job.job_id)
        return sent(job, **kwargs)  # the emulator's jobs.cancel, over HTTP

    def pressed(job: QueryJob, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(QueryJob, "cancel", watched_cancel)
    monkeypatch.setattr(QueryJob, "result", pressed)
    engine = _engine(loaded, "sink", "structured")
    lines: list[str] = []
    engine.report = lines.append
    with pytest.raises(KeyboardInterrupt):
        engine.rows("env_time_range", {"env": "staging"})
    assert len(cancelled) == 1
    assert f"bigquery: asked BigQuery to cancel job {cancelled[0]}" in lines[-1]


def test_no_day_is_scanned_by_two_fetches(loaded: Loaded) -> None:
    """BigQuery bills a day partition (or a date shard) whole when a scan reaches into it: the
    fetches of a run start and end at UTC midnight, so no two of a window's fetches over date
    shards (the --lookback, then the rest of a window longer than it) read the same shard, and
    the window's attempts are the lake's."""
    last = _last_ts(loaded.shards_lake)
    now, lookback = last + timedelta(hours=20), timedelta(days=2)
    engine = open_bigquery(
        source=loaded.shards_source,
        endpoint=loaded.endpoint,
        anonymous=True,
        lookback=lookback,
        window=(last - timedelta(days=5), now),
    )
    engine.report, engine.now = (lambda line: None), (lambda: now)
    read: list[list[str]] = []
    compose = engine._compose

    def recording(question: str, params: Any) -> Any:
        statement = compose(question, params)
        read.append(re.findall(r"run_googleapis_com_stdout_(\d{8})", statement.sql))
        return statement

    engine._compose = recording  # type: ignore[method-assign]
    engine.rows("env_time_range", {"env": "staging", **plausible_time_params()})
    params = {"env": "staging", "start": last - timedelta(days=5), "end": last}
    ours = _by_group(*engine.attempt_columns(params))
    assert ours == _by_group(*local_engine(loaded.shards_lake).attempt_columns(params))
    assert engine.jobs == 2 and all(read), read
    first, second = (set(days) for days in read)
    assert not first & second, read


def _quiet_over_a_day(loaded: Loaded, now: datetime) -> tuple[BigQueryEngine, list[str]]:
    """The engine over the quiet timeline with a 1-day --lookback at `now`, its lines kept,
    after its first question (over the --lookback)."""
    engine = open_bigquery(
        source=loaded.quiet_source,
        endpoint=loaded.endpoint,
        anonymous=True,
        lookback=timedelta(days=1),
    )
    lines: list[str] = []
    engine.report, engine.now = lines.append, (lambda: now)
    engine.rows("env_time_range", {"env": "staging", **plausible_time_params()})
    return engine, lines


def test_a_state_found_before_the_lookback_of_a_span_is_the_one_in_force(loaded: Loaded) -> None:
    """A fetch that starts at midnight, before the question's span, finds the VPC state change
    in force there (and says when it began): the answer reads that state, the last change held
    before the span, as the lake does, not `unknown` for being over --lookback before the
    span's start. Here the quiet timeline's state began 1.5 days before a span whose
    --lookback is 1 day."""
    last = datetime(2026, 11, 1, 23, 20, tzinfo=UTC)
    engine, lines = _quiet_over_a_day(loaded, last + timedelta(hours=20))
    params = {"env": "staging", "start": last - timedelta(days=3), "end": last}
    ours = _by_group(*engine.attempt_columns(params))
    assert ours == _by_group(*local_engine(loaded.quiet_lake).attempt_columns(params))
    assert any("in force at 2026-10-28 00:00 UTC began 2026-10-27" in x for x in lines), lines
    assert len({k[3] for k in ours}) >= 2  # VPC states


def test_a_state_older_than_the_lookback_is_said_to_read_as_unknown(loaded: Loaded) -> None:
    """A window that starts 2.5 days into the quiet timeline, with a 1-day --lookback: no
    change is found before its fetch although the env has some, and stderr says the state
    there reads as unknown and how to find it."""
    engine, lines = _quiet_over_a_day(loaded, datetime(2026, 11, 2, 19, 20, tzinfo=UTC))
    assert not [x for x in lines if "reads as unknown" in x], lines
    start = datetime(2026, 10, 30, tzinfo=UTC)
    params = {"env": "staging", "start": start, "end": start + timedelta(days=2)}
    engine.attempt_columns(params)
    said = [x for x in lines if "reads as unknown" in x]
    assert len(said) == 1 and "at 2026-10-29 00:00 UTC" in said[0], lines
    assert "widen --lookback" in said[0]


def test_a_fetch_past_what_the_machine_holds_is_one_line_before_any_row_lands(
    loaded: Loaded,
) -> None:
    """The rows a fetch would bring are known before they are downloaded: past the run's cap
    (half the machine's memory at about 1,700 bytes a row) the command stops in one line."""
    from analyzer.engine.bigquery import memory_row_cap
    from analyzer.errors import AnalyzerError

    assert memory_row_cap() > 100_000  # any machine that runs the suite holds that many
    engine = _engine(loaded, "sink", "structured")
    engine.max_rows = 10
    with pytest.raises(AnalyzerError, match=r"rows, more than this machine holds \(10 rows a run"):
        engine.rows("env_time_range", {"env": "staging", **plausible_time_params()})
    engine = _engine(loaded, "sink", "structured")
    assert (
        engine.rows("env_time_range", {"env": "staging", **plausible_time_params()})[0]["last_ts"]
        is not None
    )
