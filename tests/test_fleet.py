"""Fleets end to end: the generator's services, revisions and shared VPC timeline as the lake
sees them, and `analyze regressions` and `analyze blame` through the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from analyzer.cli import main
from analyzer.engine.local import connect
from analyzer.lake.store import Store


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """A week of backend and auth, 40 startups a day each, deploys every 3.5 days, backend's
    newest revision 1.3x slower in phase 3: simulated, then imported."""
    folder = tmp_path_factory.mktemp("fleet")
    runner = CliRunner()
    made = runner.invoke(
        main,
        [
            "simulate", "--env", "staging", "--days", "7", "--out", str(folder / "fleet.jsonl.gz"),
            "--services", "backend,auth", "--startups-per-hour", "1.6667",
            "--deploy-every", "3.5", "--regression", "backend:1.3", "--seed", "6",
        ],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    manifest = json.loads(made.output)
    assert manifest["regression"]["deployed_at"] < "2026-10-30"  # 2 days or more of it
    store = str(folder / "lake")
    imported = runner.invoke(main, ["import", str(folder), "--env", "staging", "--store", store])
    assert imported.exit_code == 0, imported.output
    return store, manifest


def _run(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "json" in args else result.output


def test_services_share_one_timeline_and_roll_out_revisions(
    fleet: tuple[str, dict[str, Any]],
) -> None:
    store, manifest = fleet
    con = connect(Store(Path(store)))
    services = dict(con.execute("SELECT service, count(*) FROM startups GROUP BY ALL").fetchall())
    assert services == {s["service_name"]: s["startups"] for s in manifest["services"].values()}
    revisions = con.execute(
        "SELECT service, list(DISTINCT revision ORDER BY revision) FROM startups GROUP BY ALL"
    ).fetchall()
    for service, names in revisions:
        made = next(s for s in manifest["services"].values() if s["service_name"] == service)
        assert names == [r["revision"] for r in made["revisions"]]  # every one ran startups
    assert con.execute("SELECT count(*) FROM vpc_states").fetchone() == (
        manifest["vpc_state_changes"],
    )
    # every phase-3 attempt logs the state of the env's one timeline at its start
    mismatched = con.execute(
        "SELECT count(*) FROM phase_attempts AS a ASOF JOIN vpc_states AS v "
        "ON a.env = v.env AND a.started_at >= v.ts "
        "WHERE a.phase = 3 AND a.vpc_state <> v.vpc_state"
    ).fetchone()
    assert mismatched == (0,)
    # a rollout: the revision before still starts instances after the new one is deployed
    last_start = dict(
        con.execute(
            "SELECT revision, strftime(max(started_at), '%Y-%m-%dT%H:%M:%S') FROM startups "
            "GROUP BY ALL"
        ).fetchall()
    )
    rolled = [
        last_start[before["revision"]] > after["deployed_at"]
        for service in manifest["services"].values()
        for before, after in zip(service["revisions"], service["revisions"][1:], strict=False)
    ]
    assert any(rolled)


def test_the_injected_regression_is_the_only_one_found(fleet: tuple[str, dict[str, Any]]) -> None:
    store, manifest = fleet
    report = _run("regressions", "--env", "staging", "--store", store, "--format", "json")
    flagged = [c for c in report["comparisons"] if c["flagged"]]
    assert flagged, report
    assert {(c["revision"], c["phase"]) for c in flagged} == {
        (manifest["regression"]["revision"], 3)
    }
    overall = next(c for c in flagged if c["vpc_state"] == "all")
    low, high = overall["median"]["ci"]
    assert low <= 1.3 <= high and low > 1
    text = _run("regressions", "--env", "staging", "--store", store)
    assert "1 phase(s) slower beyond noise:" in text and "SLOWER" in text
    auth = _run(
        "regressions", "--env", "staging", "--store", store, "--service", "netra-auth-staging",
        "--format", "json",
    )  # fmt: skip
    assert auth["services"] == ["netra-auth-staging"]
    assert not any(c["flagged"] for c in auth["comparisons"])


def test_blame_names_the_slowest_startups_and_where_time_goes(
    fleet: tuple[str, dict[str, Any]],
) -> None:
    store, _ = fleet
    blame = _run("blame", "--env", "staging", "--store", store, "--top", "5", "--format", "json")
    slowest = blame["slowest"]
    assert len(slowest) == 5
    assert [s["duration_s"] for s in slowest] == sorted(
        (s["duration_s"] for s in slowest), reverse=True
    )
    con = connect(Store(Path(store)))
    longest = con.execute(
        "SELECT max(duration_s) FROM startups WHERE env = 'staging' AND ended_at IS NOT NULL"
    ).fetchone()
    assert longest is not None and slowest[0]["duration_s"] == pytest.approx(longest[0])
    for s in slowest:  # the costliest phase is the longest attempt of that startup
        top = con.execute(
            "SELECT phase, duration_s FROM phase_attempts WHERE startup_id = ? "
            "ORDER BY duration_s DESC LIMIT 1",
            [s["startup_id"]],
        ).fetchone()
        assert top == (s["phase"], pytest.approx(s["phase_duration_s"]))
    totals: dict[tuple[str, str], float] = {}
    for share in blame["shares"]:
        key = (share["service"], share["vpc_state"])
        totals[key] = totals.get(key, 0.0) + share["share"]
    assert all(v == pytest.approx(1.0) for v in totals.values())
    assert {s for s, _ in totals} == {"netra-backend-staging", "netra-auth-staging"}
    # phase 3 of the slower-medians service takes a bigger share in the healthy state
    phase3 = {
        s["service"]: s["share"]
        for s in blame["shares"]
        if s["phase"] == 3 and s["vpc_state"] == "healthy"
    }
    assert phase3["netra-backend-staging"] > phase3["netra-auth-staging"]
    assert "Where startup time goes" in _run("blame", "--env", "staging", "--store", store)


@pytest.mark.parametrize("command", ["regressions", "blame"])
def test_fleet_commands_fail_in_one_line(fleet: tuple[str, dict[str, Any]], command: str) -> None:
    store, _ = fleet
    runner = CliRunner()
    unknown = runner.invoke(main, [command, "--env", "staging", "--store", store, "--service", "x"])
    assert unknown.exit_code == 1
    assert "no service 'x'" in unknown.output
    assert "services found: netra-auth-staging, netra-backend-staging" in unknown.output
    assert "Traceback" not in unknown.output
    empty = runner.invoke(main, [command, "--env", "production", "--store", store])
    assert empty.exit_code == 3 and "no telemetry for env 'production'" in empty.output


def test_simulate_fleet_options_are_checked(tmp_path: Path) -> None:
    runner = CliRunner()
    out = str(tmp_path / "f.jsonl")
    cases = {
        ("--regression", "backend:1.3"): "--regression needs --services",
        ("--services", "backend,nope"): "unknown service 'nope'; known: backend, auth, billing",
        ("--services", "backend", "--regression", "auth:1.3"): "'auth' is not one of --services",
        ("--services", "backend", "--regression", "backend:x"): "use SERVICE:FACTOR",
        ("--services", "backend", "--days", "1", "--regression", "backend:2"): "lengthen --days",
        ("--services", "a=0"): "the scale must be a positive number",
    }
    for args, message in cases.items():
        result = runner.invoke(main, ["simulate", "--env", "staging", "--out", out, *args])
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output, (args, result.output)


def test_same_fleet_seed_same_bytes(tmp_path: Path) -> None:
    from analyzer.simulate import SimulationSpec
    from analyzer.simulate_fleet import FleetSpec, parse_services, write_fleet_export

    spec = FleetSpec(
        spec=SimulationSpec(env="staging", days=2), services=parse_services("auth,x=2")
    )
    write_fleet_export(spec, tmp_path / "a.jsonl.gz")
    write_fleet_export(spec, tmp_path / "b.jsonl.gz")
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()


def _revision(e: dict[str, Any], revision: str) -> dict[str, Any]:
    e["resource"]["labels"]["revision_name"] = revision
    return e


def test_fleet_queries_on_a_hand_made_lake(tmp_path: Path) -> None:
    """Two startups of api (revision r1 at t=0, r2 at t=100; r1 seen first) and one of web:
    revision_attempts and blame_attempts read them as can be checked by eye."""
    from datetime import timedelta

    from analyzer.engine import local_engine
    from analyzer.ingest import import_paths
    from tests.conftest import T0, entry, write_ndjson

    def startup(t: float, instance: str, service: str, revision: str, d3: float, ok: bool):
        end = {"event": "phase_completed", "phase": 3, "duration_s": d3}
        if not ok:
            end = {"event": "phase_failed", "phase": 3, "outcome": "timeout", "duration_s": d3}
        events = [
            {"event": "startup_started"},
            {"event": "phase_started", "phase": 1},
            {"event": "phase_completed", "phase": 1, "duration_s": 1.0},
            {"event": "phase_started", "phase": 3, "vpc_state": "healthy"},
            end,
            {"event": "startup_completed" if ok else "startup_failed"},
        ]
        times = [0, 0, 1, 1, 1 + d3, 1 + d3]
        return [
            _revision(entry(p, t=t + dt, instance=instance, service=service), revision)
            for p, dt in zip(events, times, strict=True)
        ]

    entries = [
        *startup(0, "a", "api", "api-r1", 5.0, True),
        *startup(100, "b", "api", "api-r2", 20.0, False),
        *startup(50, "c", "web", "web-r1", 2.0, True),
    ]
    store = Store(tmp_path / "lake")
    import_paths([write_ndjson(tmp_path / "e.jsonl", entries)], env="staging", store=store)
    engine = local_engine(store)
    window = {"env": "staging", "start": T0, "end": T0 + timedelta(seconds=200)}
    rows = engine.rows("revision_attempts", window)
    got = sorted(
        (r["service"], r["revision"], r["phase"], r["duration_s"], r["observed"]) for r in rows
    )
    assert got == [
        ("api", "api-r1", 1, 1.0, True),
        ("api", "api-r1", 3, 5.0, True),
        ("api", "api-r2", 1, 1.0, True),
        ("api", "api-r2", 3, 20.0, False),
        ("web", "web-r1", 1, 1.0, True),
        ("web", "web-r1", 3, 2.0, True),
    ]
    first = {r["revision"]: r["first_seen"] for r in rows}
    assert first["api-r1"] == T0 and first["api-r2"] == T0 + timedelta(seconds=100)
    later = engine.rows("revision_attempts", {**window, "start": T0 + timedelta(seconds=60)})
    assert {(r["revision"], r["first_seen"]) for r in later} == {
        ("api-r2", T0 + timedelta(seconds=100))
    }
    blame = engine.rows("blame_attempts", window)
    by_startup = {(r["startup_id"], r["phase"]): r for r in blame}
    assert by_startup["b", 3]["startup_duration_s"] == pytest.approx(21.0)
    assert by_startup["b", 3]["startup_outcome"] == "failed"
    assert by_startup["b", 3]["outcome"] == "timeout"
    assert by_startup["c", 1]["revision"] == "web-r1"
    assert len(blame) == 6


def test_recommend_and_report_say_what_the_newest_deploy_changed(
    fleet: tuple[str, dict[str, Any]],
) -> None:
    from analyzer.engine import local_engine
    from analyzer.report.page import _table
    from analyzer.report.regressions import regressions_section

    store, manifest = fleet
    regressed = manifest["regression"]["revision"]
    args = ["recommend", "--env", "staging", "--store", store, "--no-history"]
    text = _run(*args)
    assert "Changed since the revisions before (analyze regressions):" in text
    note = text.split("Changed since the revisions before")[1]
    assert f"slower: netra-backend-staging {regressed}" in note and "phase 3" in note
    assert "netra-auth-staging" not in note
    assert "timeouts" in _run(*args, "--format", "json")  # JSON stays the recommendation alone
    engine = local_engine(Store(Path(store)))
    section = "".join(regressions_section(engine=engine, env="staging", since="28d", table=_table))
    assert section.startswith("<h2>Regressions by revision</h2>")
    assert regressed in section and "<table>" in section
    assert "netra-auth-staging" not in section
    empty = regressions_section(engine=engine, env="production", since="28d", table=_table)
    assert "Not compared: no telemetry for env &#x27;production&#x27;" in empty[-1]
