"""`recommend` and `history` per service, on a hand-made lake of two services whose answer is
plain: the groups the engine cuts, the rows, --service, JSON, CSV and carry-over per service."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer.analysis.attempts import load_attempt_groups, pool_services
from analyzer.cli import main
from analyzer.engine import local_engine
from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from analyzer.recommend.history import previous_values
from analyzer.recommend.timeouts import recommend
from tests.conftest import entry, write_ndjson

KEY = (3, "initialization")


def _attempts(service: str, state: str, durations: list[float], at: int) -> list[dict]:
    out = []
    for n, duration in enumerate(durations):
        inst, t = f"{service}-{state}-{n}", (at + n) * 200
        start = {"event": "phase_started", "phase": 3, "vpc_state": state, "timeout_s": 120.0}
        end = {"event": "phase_completed", "phase": 3, "duration_s": duration}
        out += [
            entry(start, t=t, instance=inst, service=service),
            entry(end, t=t + duration, instance=inst, service=service),
        ]
    return out


@pytest.fixture
def two_services(tmp_path: Path, store: Store) -> Store:
    """api: 40 healthy attempts of 1..40 s and 30 pressure ones of 10..39 s; worker: 40
    healthy of 2..80 s (twice api's) and 6 pressure ones of 60 s (too few, and slower)."""
    entries = _attempts("api", "healthy", [float(n) for n in range(1, 41)], 0)
    entries += _attempts("api", "pressure", [float(n) for n in range(10, 40)], 100)
    entries += _attempts("worker", "healthy", [2.0 * n for n in range(1, 41)], 200)
    entries += _attempts("worker", "pressure", [60.0] * 6, 300)
    import_paths([write_ndjson(tmp_path / "e.jsonl", entries)], env="staging", store=store)
    return store


def test_groups_are_cut_per_service_and_pooled_back(two_services: Store) -> None:
    _, _, groups = load_attempt_groups(
        local_engine(two_services), "staging", since="28d", until=None
    )
    sizes = {(g.service, g.vpc_state): g.size for g in groups if g.key[:2] == KEY}
    assert sizes == {
        ("api", "healthy"): 40,
        ("api", "pressure"): 30,
        ("worker", "healthy"): 40,
        ("worker", "pressure"): 6,
    }
    pooled = {g.vpc_state: g for g in pool_services(groups) if g.key[:2] == KEY}
    assert {s: g.size for s, g in pooled.items()} == {"healthy": 80, "pressure": 36}
    assert all(g.service is None for g in pooled.values())
    assert list(pooled["healthy"].started_s) == sorted(pooled["healthy"].started_s)


def test_rows_per_service_and_env_wide(two_services: Store) -> None:
    rec = recommend(engine=local_engine(two_services), env="staging")
    assert rec.services == ["api", "worker"]
    rows = {(t.service, t.vpc_state): t for t in rec.timeouts if (t.phase, t.operation) == KEY}
    assert rows[None, "healthy"].attempts == 80 and rows["api", "healthy"].attempts == 40
    assert rows["api", "healthy"].quantiles_s.p50 == 20.0
    assert rows["worker", "healthy"].quantiles_s.p50 == 40.0
    # worker's six pressure attempts all outlast api's: never the pool's number, its own
    # conservative one (six attempts cannot bound a 0.5 % tail: the ceiling).
    worker = rows["worker", "pressure"]
    assert (worker.timeout_s, worker.pooled, worker.clamped) == (240.0, False, "ceiling")
    assert any(
        w.kind == "slower-than-pool" and w.service == "worker" and "worker phase 3" in w.message
        for w in rec.warnings
    )
    order = [(t.service is not None, t.service or "") for t in rec.timeouts]
    assert order == sorted(order) and order[0] == (False, "")


def test_cli_service_json_csv_and_unknown(two_services: Store) -> None:
    runner = CliRunner()
    args = ["recommend", "--env", "staging", "--store", str(two_services.root)]
    data = json.loads(runner.invoke(main, [*args, "--format", "json"]).stdout)
    assert {t["service"] for t in data["timeouts"]} == {None, "api", "worker"}
    only = json.loads(
        runner.invoke(main, [*args, "--service", "worker", "--format", "json"]).stdout
    )
    assert {t["service"] for t in only["timeouts"]} == {"worker"}
    assert {w.get("service") for w in only["warnings"] if w["phase"] is not None} == {"worker"}
    table = runner.invoke(main, [*args, "--service", "api", "--service", "worker"]).stdout
    assert "service api" in table and "service worker" in table and "env-wide" not in table
    assert "env-wide (every service pooled" in runner.invoke(main, args).stdout
    rows = list(csv.DictReader(io.StringIO(runner.invoke(main, [*args, "--format", "csv"]).stdout)))
    assert list(rows[0])[:3] == ["env", "service", "phase"]
    assert {r["service"] for r in rows} == {"", "api", "worker"}
    saved = len(list((two_services.root / "recommendations").rglob("rec_*.json")))
    unknown = runner.invoke(main, [*args, "--service", "web"])
    assert unknown.exit_code == 1 and "Traceback" not in unknown.output
    assert "no service 'web'" in unknown.output and "its services: api, worker" in unknown.output
    assert len(list((two_services.root / "recommendations").rglob("rec_*.json"))) == saved


def test_history_per_service(two_services: Store) -> None:
    runner = CliRunner()
    where = ["--env", "staging", "--store", str(two_services.root)]
    assert runner.invoke(main, ["recommend", *where]).exit_code == 0
    shown = runner.invoke(main, ["history", *where, "--service", "worker"])
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert any(
        line.startswith("worker") and "pressure" in line and "240 s" in line for line in lines
    )
    assert not any(line.startswith("api ") for line in lines)
    rows = list(
        csv.DictReader(
            io.StringIO(runner.invoke(main, ["history", *where, "--format", "csv"]).stdout)
        )
    )
    assert {r["service"] for r in rows} == {"", "api", "worker"}
    unknown = runner.invoke(main, ["history", *where, "--service", "web"])
    assert unknown.exit_code == 1 and "its services: api, worker" in unknown.output


def test_carry_over_per_service(two_services: Store) -> None:
    """A key without evidence (no service has a connection attempt) keeps the service's own
    previous value, else the env-wide one it ran with; the next run's previous values are
    keyed by service. (worker's initialization in a state it has no attempts in is the
    ceiling: its other states show it slower than api.)"""
    critical = (3, "connection", "critical")
    previous = {(None, *critical): 150.0, ("worker", *critical): 200.0}
    rec = recommend(engine=local_engine(two_services), env="staging", previous=previous)
    rows = {t.service: t for t in rec.timeouts if (t.phase, t.operation, t.vpc_state) == critical}
    assert (rows["worker"].timeout_s, rows["worker"].source) == (200.0, "previous")
    assert (rows["api"].timeout_s, rows["api"].source) == (150.0, "previous")
    assert (rows[None].timeout_s, rows[None].source) == (150.0, "previous")
    keyed = previous_values(rec)
    assert keyed["worker", *critical] == 200.0 and keyed[None, *critical] == 150.0
    worker = next(
        t
        for t in rec.rows_of("worker")
        if (t.phase, t.operation, t.vpc_state) == (3, "initialization", "critical")
    )
    assert (worker.timeout_s, worker.attempts, worker.pooled) == (240.0, 0, False)


def test_the_project_files_service_narrows_recommend(
    two_services: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "analyzer.toml").write_text(
        f'[env.staging]\nstore = "{two_services.root}"\nservice = "api"\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANALYZER_STORE", raising=False)
    monkeypatch.delenv("ANALYZER_PROJECT_FILE", raising=False)
    result = CliRunner().invoke(main, ["recommend", "--env", "staging", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert {t["service"] for t in json.loads(result.stdout)["timeouts"]} == {"api"}
    shown = CliRunner().invoke(main, ["config", "show", "recommend", "--env", "staging"])
    assert "api" in shown.stdout and "--service of recommend" in shown.stdout


def test_a_run_saved_before_services_reads_as_env_wide(two_services: Store) -> None:
    from analyzer.recommend.model import Recommendation

    rec = recommend(engine=local_engine(two_services), env="staging")
    recorded = rec.model_dump(mode="json")
    recorded["timeouts"] = [t for t in recorded["timeouts"] if t["service"] is None]
    for row in recorded["timeouts"]:
        del row["service"], row["pooled"]
    old = Recommendation.model_validate(recorded)
    assert old.services == [] and old.rows_of(None) == old.timeouts
    assert all(key[0] is None for key in previous_values(old))


def test_one_service_prints_one_section(tmp_path: Path, store: Store) -> None:
    entries = _attempts("api", "healthy", [float(n) for n in range(1, 41)], 0)
    import_paths([write_ndjson(tmp_path / "e.jsonl", entries)], env="staging", store=store)
    args = ["recommend", "--env", "staging", "--store", str(store.root), "--no-history"]
    table = CliRunner().invoke(main, args).stdout
    assert "service api (the env's only service: the env-wide rows too)" in table
    assert "env-wide (" not in table
    data = json.loads(CliRunner().invoke(main, [*args, "--format", "json"]).stdout)
    assert {t["service"] for t in data["timeouts"]} == {None, "api"}


def test_carry_over_from_a_deployed_files_sections(two_services: Store, tmp_path: Path) -> None:
    """--previous FILE: each service carries over its own section's values, a service without
    one the env default's."""
    runner = CliRunner()
    where = ["--env", "staging", "--store", str(two_services.root)]
    assert runner.invoke(main, ["recommend", *where]).exit_code == 0
    deployed = tmp_path / "deployed.json"
    exported = runner.invoke(main, ["export", *where, "--out", str(deployed)])
    assert exported.exit_code == 0, exported.output
    config = json.loads(deployed.read_text())
    key = {"phase": 3, "operation": "connection", "vpc_state": "critical"}

    def set_value(entries: list[dict], value: float) -> None:
        for e in entries:
            if {k: e[k] for k in key} == key:
                e["timeout_s"] = value

    set_value(config["timeouts"], 150.0)
    set_value(config["services"]["worker"]["timeouts"], 200.0)
    del config["services"]["api"]
    deployed.write_text(json.dumps(config))
    result = runner.invoke(
        main, ["recommend", *where, "--previous", str(deployed), "--no-history", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = {
        t["service"]: t
        for t in json.loads(result.stdout)["timeouts"]
        if {k: t[k] for k in key} == key
    }
    assert (rows["worker"]["timeout_s"], rows["worker"]["source"]) == (200.0, "previous")
    assert (rows["api"]["timeout_s"], rows["api"]["source"]) == (150.0, "previous")
    assert (rows[None]["timeout_s"], rows[None]["source"]) == (150.0, "previous")


def test_export_diff_predicts_each_sections_rate_from_its_own_attempts(
    two_services: Store, tmp_path: Path
) -> None:
    """Under 30 s, 10 of api's 40 healthy attempts time out (25 %), 25 of worker's (62.5 %),
    35 of the 80 pooled (43.75 %): each service's row says its own, the default's the pool's."""
    runner = CliRunner()
    on = ["--env", "staging", "--store", str(two_services.root)]
    assert runner.invoke(main, ["recommend", *on]).exit_code == 0
    deployed = tmp_path / "deployed.json"
    assert runner.invoke(main, ["export", *on, "--out", str(deployed)]).exit_code == 0
    document = json.loads(deployed.read_text())
    for entries in [document["timeouts"], *(s["timeouts"] for s in document["services"].values())]:
        for t in entries:
            if (t["phase"], t["operation"], t["vpc_state"]) == (*KEY, "healthy"):
                t["timeout_s"] = 30.0
    deployed.write_text(json.dumps(document))
    diffed = runner.invoke(main, ["export", *on, "--out", "-", "--diff", str(deployed)])
    assert diffed.exit_code == 1, diffed.output
    rates = {  # the deployed value's rate: "30 s -> 240 s  25.0 %  0.0 %  recommended  yes"
        line.split("3/initialization/healthy")[0].strip(): float(line.split()[-6])
        for line in diffed.stderr.splitlines()
        if "3/initialization/healthy" in line
    }
    assert rates == pytest.approx({"": 43.75, "api:": 25.0, "worker:": 62.5}, abs=0.051)
