"""Services as a dimension of `summary` and `backtest`: each service on its own by default,
`--service` (repeatable) picking some, an unknown one refused in one line naming the env's."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from analyzer.cli import main
from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from tests.conftest import entry, write_ndjson


def _startup(t: float, instance: str, service: str, d3: float, ok: bool) -> list[dict[str, Any]]:
    end = {"event": "phase_completed", "phase": 3, "duration_s": d3}
    if not ok:
        end = {"event": "phase_failed", "phase": 3, "outcome": "timeout", "duration_s": d3}
    events = [
        {"event": "startup_started"},
        {"event": "phase_started", "phase": 3, "vpc_state": "healthy"},
        end,
        {"event": "startup_completed" if ok else "startup_failed"},
    ]
    times = [0, 0, d3, d3]
    return [
        entry(p, t=t + dt, instance=instance, service=service)
        for p, dt in zip(events, times, strict=True)
    ]


@pytest.fixture(scope="module")
def two_services(tmp_path_factory: pytest.TempPathFactory) -> str:
    """api: two startups (one timed out in phase 3), web: one, all healthy."""
    folder = tmp_path_factory.mktemp("two-services")
    entries = [
        *_startup(0, "a", "api", 5.0, True),
        *_startup(100, "b", "api", 20.0, False),
        *_startup(50, "c", "web", 2.0, True),
    ]
    store = Store(folder / "lake")
    import_paths([write_ndjson(folder / "e.jsonl", entries)], env="staging", store=store)
    return str(store.root)


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def _summary(store: str, *args: str) -> dict[str, Any]:
    result = _invoke("summary", "--env", "staging", "--store", store, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_summary_per_service_by_hand(two_services: str) -> None:
    data = _summary(two_services)
    services = {s["service"]: s for s in data["services"]}
    assert list(services) == ["api", "web"]
    assert (services["api"]["startups"], services["api"]["startups_failed"]) == (2, 1)
    assert services["api"]["startup_success_rate"] == 0.5
    assert (services["web"]["startups"], services["web"]["startup_success_rate"]) == (1, 1.0)
    assert (data["startups"], data["startups_failed"]) == (3, 1)  # every service's
    phases = {(p["service"], p["phase"]): (p["attempts"], p["timed_out"]) for p in data["phases"]}
    assert phases == {("api", 3): (2, 1), ("web", 3): (1, 0)}

    web = _summary(two_services, "--service", "web")
    assert [s["service"] for s in web["services"]] == ["web"]
    assert [p["service"] for p in web["phases"]] == ["web"]
    assert (web["startups"], web["events"]) == (1, data["events"])  # events: the env's
    both = _summary(two_services, "--service", "web", "--service", "api")
    assert both["phases"] == data["phases"]


def test_summary_table_and_csv_group_by_service(two_services: str) -> None:
    on = ["summary", "--env", "staging", "--store", two_services]
    text = _invoke(*on).output
    assert "2 services: 3 startups" in text
    api, web = text.index("service api: 2 startups"), text.index("service web: 1 startups")
    assert api < web
    rows = list(csv.DictReader(io.StringIO(_invoke(*on, "--format", "csv").stdout)))
    assert [(r["service"], r["phase"], r["attempts"]) for r in rows] == [
        ("api", "3", "2"),
        ("web", "3", "1"),
    ]
    one = _invoke(*on, "--service", "api").output
    assert "services:" not in one and "service api: 2 startups" in one and "web" not in one


@pytest.mark.parametrize(
    ("command", "extra"),
    [("summary", []), ("backtest", ["--timeout-s", "20"]), ("report", ["--out", "r.html"])],
)
def test_an_unknown_service_lists_the_envs_services(
    two_services: str, command: str, extra: list[str]
) -> None:
    args = [command, "--env", "staging", "--store", two_services, "--service", "ap", *extra]
    result = _invoke(*args)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: no service 'ap' in env 'staging' (store {two_services}); did you mean 'api'?; "
        "services found: api, web"
    )


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Three days of backend and auth (auth's phase 3 half as long), 3 startups an hour each."""
    folder = tmp_path_factory.mktemp("fleet")
    made = _invoke(
        *("simulate", "--env", "staging", "--days", "3", "--out", str(folder / "f.jsonl.gz")),
        *("--services", "backend,auth", "--seed", "3"),
    )
    assert made.exit_code == 0, made.output
    store = str(folder / "lake")
    assert _invoke("import", str(folder), "--env", "staging", "--store", store).exit_code == 0
    return store


def _backtest(store: str, *args: str) -> dict[str, Any]:
    on = ["backtest", "--env", "staging", "--store", store, "--timeout-s", "20"]
    result = _invoke(*on, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_backtest_replays_each_service_on_its_own(fleet: str) -> None:
    every = _backtest(fleet)
    backend, auth = "netra-backend-staging", "netra-auth-staging"
    assert every["services"] == [auth, backend]
    keys = [(s["service"], s["vpc_state"]) for s in every["states"]]
    assert keys == sorted(keys) and {k[0] for k in keys} == {auth, backend}
    assert sum(s["attempts"] for s in every["states"]) == every["overall"]["attempts"]
    rows = {(s["service"], s["vpc_state"]): s for s in every["states"]}
    # auth's phase 3 takes half as long: a static 20 s fails fewer of its pressure attempts
    assert (
        rows[auth, "pressure"]["success_rate_predicted"]
        > rows[backend, "pressure"]["success_rate_predicted"] + 0.2
    )
    alone = _backtest(fleet, "--service", auth)
    assert alone["services"] == [auth] and {s["service"] for s in alone["states"]} == {auth}
    for state in alone["states"]:
        # each service's replay reads its own attempts and estimates only: the same figures
        # alone as beside the other service (breaker openings aside: one breaker over both)
        beside = rows[auth, state["vpc_state"]]
        for key in ("attempts", "success_rate_observed", "success_rate_predicted", "startups"):
            assert state[key] == beside[key], key
    csv_rows = list(
        csv.DictReader(
            io.StringIO(
                _invoke(
                    *("backtest", "--env", "staging", "--store", fleet, "--timeout-s", "20"),
                    *("--format", "csv"),
                ).stdout
            )
        )
    )
    assert [(r["service"], r["vpc_state"]) for r in csv_rows[:-1]] == keys
    assert csv_rows[-1]["service"] == "overall"


def test_backtest_table_names_each_service(fleet: str) -> None:
    on = ["backtest", "--env", "staging", "--store", fleet, "--timeout-s", "20", "--sweep"]
    text = _invoke(*on).stdout
    lines = [line.split()[0] for line in text.splitlines() if line.startswith("netra-")]
    assert lines == sorted(lines) and set(lines) == {"netra-auth-staging", "netra-backend-staging"}
    assert "success rate against the timeout" in text


def test_a_name_with_a_quote_is_only_a_name(two_services: str) -> None:
    """The service filter is bound, never formatted in: a name with a quote is just a name."""
    result = _invoke(
        *("summary", "--env", "staging", "--store", two_services, "--service", "api' OR '1"),
    )
    assert result.exit_code == 1 and "services found: api, web" in result.output


def test_the_demo_shows_each_service_and_the_injected_regression(
    tmp_path: Path, sample_manifests: dict[str, Any]
) -> None:
    """The bundled staging sample is a fleet of two services with one revision made slower:
    the demo's summary and backtest show each service, and its regressions find that one."""
    made = sample_manifests["staging"]
    names = sorted(s["service_name"] for s in made.services.values())
    assert names == ["netra-auth-staging", "netra-backend-staging"]
    done = _invoke("demo", "--store", str(tmp_path / "demo"))
    assert done.exit_code == 0, done.output[-2000:]
    shown = {
        part.split("\n", 1)[0]: part for part in done.output.split("$ analyze ")[1:]
    }  # command line -> what it printed
    summary = next(v for k, v in shown.items() if k.startswith("summary"))
    for name in names:
        assert f"service {name}: {made.services[name.split('-')[1]]['startups']:,} startups" in (
            summary
        )
    replay = next(v for k, v in shown.items() if k.startswith("backtest"))
    assert {line.split()[0] for line in replay.splitlines() if line.startswith("netra-")} == set(
        names
    )
    found = next(v for k, v in shown.items() if k.startswith("regressions"))
    assert "1 phase(s) slower beyond noise:" in found
    regressed = made.regression["revision"]
    flagged = [line for line in found.splitlines() if line.rstrip().endswith("SLOWER")]
    assert flagged and all(regressed in line and " 3 " in line for line in flagged)
    strain = next(v for k, v in shown.items() if k.startswith("capacity"))
    assert "strained share by hour of week" in strain and "\nforecast: " in strain
    assert {line.split()[0] for line in strain.splitlines() if line.startswith("netra-")} == set(
        names
    )


def test_backtest_replays_each_service_under_its_own_section(fleet: str, tmp_path: Path) -> None:
    """A config whose default gives phase 3 two seconds and whose auth section gives it 240:
    auth's rows are replayed under its section, backend's under the default."""
    auth, backend = "netra-auth-staging", "netra-backend-staging"
    states = ("healthy", "scaling", "pressure", "critical", "unknown")

    def config(sections: dict[str, float]) -> str:
        def entries(seconds: float) -> list[dict[str, Any]]:
            return [
                {"phase": 3, "operation": "initialization", "vpc_state": s, "timeout_s": seconds}
                for s in states
            ]

        document: dict[str, Any] = {
            "schema_version": 3,
            "env": "staging",
            "timeouts": entries(2.0),
            "breaker": {"failure_threshold": 3, "recovery_timeout_s": 60, "half_open_max_calls": 1},
        }
        if sections:
            document["services"] = {n: {"timeouts": entries(v)} for n, v in sections.items()}
        path = tmp_path / f"config-{len(sections)}.json"
        path.write_text(json.dumps(document))
        return str(path)

    def replay(path: str) -> dict[tuple[str, str], float]:
        on = ["backtest", "--env", "staging", "--store", fleet, "--config", path]
        result = _invoke(*on, "--format", "json")
        assert result.exit_code == 0, result.output
        rows = json.loads(result.stdout)["states"]
        return {(r["service"], r["vpc_state"]): r["success_rate_predicted"] for r in rows}

    default, sectioned = replay(config({})), replay(config({auth: 240.0}))
    assert default[auth, "healthy"] < 0.5  # 2 s cuts most of auth's healthy attempts
    assert sectioned[auth, "healthy"] > 0.98
    for (service, state), rate in sectioned.items():
        if service == auth:
            assert rate > default[service, state] + 0.3, state
        else:
            assert service == backend and rate == default[service, state], state
