"""The path from a recommendation to the running service: which run ships, carry-over where the
evidence is thin, the one validator, what the service says it loaded, and the reviewed diff.
Real stores, real files, the real runtime (in a subprocess where a service is the point)."""

from __future__ import annotations

import copy
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from analyzer import runtime
from analyzer.cli import main
from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from analyzer.runtime.defaults import default_config
from tests.conftest import copy_lake

pytestmark = pytest.mark.usefixtures("fresh_runtime")
STATES = ("healthy", "scaling", "pressure", "critical", "unknown")


@pytest.fixture(scope="module")
def imported(sample_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_lake(sample_lake, tmp_path_factory.mktemp("safe"))


@pytest.fixture
def lake(imported: Path, tmp_path: Path) -> Path:
    """A copy of the imported sample with no history."""
    root = tmp_path / "lake"
    shutil.copytree(imported, root)
    return root


@pytest.fixture
def recommended_lake(sample_recommended_lake: Path, tmp_path: Path) -> Path:
    """A copy of the imported sample with one standing recommendation saved."""
    return copy_lake(sample_recommended_lake, tmp_path / "recommended")


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def recommend(lake: Path, *extra: str) -> Any:
    result = cli("recommend", "--env", "staging", "--store", str(lake), "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    return result


def export(lake: Path, out: Path, *extra: str) -> Any:
    return cli("export", "--env", "staging", "--store", str(lake), "--out", str(out), *extra)


def service_timeouts(config: Path, env: str = "staging") -> dict[str, float]:
    """What a service process gets per VPC state for phase-3 initialization from `config`."""
    code = (
        "import json, sys\n"
        "from analyzer.runtime import get_capacity_aware_database_timeout as t\n"
        f"print(json.dumps({{s: t({env!r}, 'initialization', s) for s in {STATES!r}}}))\n"
    )
    env_vars = {"ANALYZER_TIMEOUT_CONFIG": str(config), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env_vars, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


# 1. Which run ships is explicit.


def test_a_run_made_for_looking_is_never_exported(
    lake: Path, recommended_lake: Path, tmp_path: Path
) -> None:
    look = recommend(lake, "--since", "14d")
    assert "not saved" in look.stderr and "since=14d" in look.stderr
    refused = export(lake, tmp_path / "none.json")
    assert refused.exit_code == 3 and "no saved recommendation" in refused.stderr
    assert not (tmp_path / "none.json").exists()

    # The same lake after a standing `recommend --env staging` (made once per worker).
    lake = recommended_lake
    saved = json.loads(
        cli("history", "--env", "staging", "--store", str(lake), "--format", "json").stdout
    )
    assert len(saved) == 1 and saved[0]["overrides"] == {}
    standing = saved[0]
    look = json.loads(recommend(lake, "--since", "14d").stdout)
    result = export(lake, tmp_path / "t.json")
    assert result.exit_code == 0, result.output
    assert f"run {standing['run_id']}" in result.stderr and "overrides: none" in result.stderr
    shipped = json.loads((tmp_path / "t.json").read_text())
    assert shipped["provenance"]["run_id"] == standing["run_id"]
    assert shipped["provenance"]["overrides"] == {}
    # The look's id is not a saved run: it cannot be picked either.
    assert export(lake, tmp_path / "u.json", "--run", look["run_id"]).exit_code == 1

    saved_look = json.loads(recommend(lake, "--since", "14d", "--save").stdout)
    picked = export(lake, tmp_path / "v.json", "--run", standing["run_id"])
    assert picked.exit_code == 0 and standing["run_id"] in picked.stderr
    history = cli("history", "--env", "staging", "--store", str(lake))
    assert standing["run_id"] in history.stdout and saved_look["run_id"] in history.stdout
    assert look["run_id"] not in history.stdout
    assert "overrides: since=14d" in history.stdout and "window 2026-" in history.stdout
    backtest = cli("backtest", "--env", "staging", "--store", str(lake), "--format", "json")
    assert f"run {saved_look['run_id']}" in backtest.stderr and "since=14d" in backtest.stderr
    from analyzer.engine import local_engine
    from analyzer.report.page import report_run

    shown, saved = report_run(engine=local_engine(Store(lake)), store=Store(lake), env="staging")
    assert (shown.run_id, saved) == (saved_look["run_id"], True)


# 2. Never less safe than before.


def test_thin_evidence_never_lowers_a_timeout_below_the_previous_export_or_the_default(
    recommended_lake: Path, tmp_path: Path
) -> None:
    lake = recommended_lake
    assert export(lake, tmp_path / "previous.json").exit_code == 0
    before = service_timeouts(tmp_path / "previous.json")

    thin = json.loads(recommend(lake, "--since", "2d", "--save").stdout)
    rows = {  # the env default's rows (the sample is a fleet: each service has rows too)
        t["vpc_state"]: t
        for t in thin["timeouts"]
        if t["phase"] == 3 and t["operation"] == "initialization" and t["service"] is None
    }
    assert rows["critical"]["attempts"] < 20 and rows["critical"]["methods"]["p99"] == (
        "insufficient-data"
    )
    assert export(lake, tmp_path / "thin.json").exit_code == 0
    after = service_timeouts(tmp_path / "thin.json")
    seed = default_config("staging").timeouts
    thin_states = [s for s, r in rows.items() if r["source"] != "recommended"]
    assert "critical" in thin_states
    for state in thin_states:
        floor = max(before[state], seed[(3, "initialization", state)])
        assert after[state] >= floor, (state, after[state], floor)
    assert after["critical"] == before["critical"] >= 115.0
    assert after["unknown"] == max(after.values())
    document = json.loads((tmp_path / "thin.json").read_text())
    marked = {
        t["vpc_state"]: t["source"]
        for t in document["timeouts"]
        if t["phase"] == 3 and t["operation"] == "initialization"
    }
    assert marked["critical"] == "previous"
    assert {marked[s] for s in thin_states} <= {"previous", "default"}
    table = cli("recommend", "--env", "staging", "--store", str(lake), "--since", "2d", "--all")
    assert "no evidence: previous export" in table.stdout


def test_a_deployed_file_is_carried_over_when_given(lake: Path, tmp_path: Path) -> None:
    deployed = tmp_path / "deployed.json"
    deployed.write_text(
        json.dumps(
            {
                "schema_version": 2,
                "env": "staging",
                "timeouts": [
                    {
                        "phase": 3,
                        "operation": "initialization",
                        "vpc_state": "critical",
                        "timeout_s": 200.0,
                    }
                ],
                "breaker": {
                    "failure_threshold": 3,
                    "recovery_timeout_s": 60,
                    "half_open_max_calls": 1,
                },
            }
        )
    )
    thin = json.loads(recommend(lake, "--since", "2d", "--previous", str(deployed)).stdout)
    critical = next(
        t
        for t in thin["timeouts"]
        if (t["phase"], t["operation"], t["vpc_state"]) == (3, "initialization", "critical")
    )
    # Two days hold too few critical attempts for a number: the deployed 200 s is carried,
    # raised only where those few attempts bound more (they bound nothing: the ceiling).
    assert critical["previous_timeout_s"] == 200.0 and critical["attempts"] < 20
    assert (critical["timeout_s"], critical["source"]) in (
        (200.0, "previous"),
        (240.0, "recommended"),
    )
    assert thin["previous_from"] == f"file {deployed}"


def _raised_by_hand(config: Path, seconds: float) -> dict[tuple[str | None, str], float]:
    """Every value of `config` the window gave no number for raised to at least `seconds`, and
    3/connection/healthy to 100 s (each section's): what a person raised, by section and key."""
    document = json.loads(config.read_text())
    sections = [(None, document["timeouts"])]
    sections += [(n, s["timeouts"]) for n, s in (document.get("services") or {}).items()]
    raised: dict[tuple[str | None, str], float] = {}
    for name, entries in sections:
        for entry in entries:
            key = f"{entry['phase']}/{entry['operation']}/{entry['vpc_state']}"
            if key == "3/connection/healthy":
                entry["timeout_s"] = 100.0
            elif entry.get("source") != "recommended":
                entry["timeout_s"] = max(entry["timeout_s"], seconds)
            else:
                continue
            entry["source"] = "previous"
            raised[(name, key)] = entry["timeout_s"]
    config.write_text(json.dumps(document))
    return raised


def test_a_fresh_store_keeps_every_hand_raised_deployed_key(
    imported: Path,
    sample_recommended_lake: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`deployed = PATH` in the project file is the floor: a fresh store (a CI runner's) has no
    saved run, yet a key without evidence keeps the deployed value instead of the default."""
    last_week = copy_lake(sample_recommended_lake, tmp_path / "last-week")
    repo = tmp_path / "repo"
    shipped = repo / "deploy" / "staging" / "timeouts.json"
    shipped.parent.mkdir(parents=True)
    assert export(last_week, shipped).exit_code == 0
    raised = _raised_by_hand(shipped, 150.0)
    assert (None, "3/connection/healthy") in raised
    (repo / "analyzer.toml").write_text(
        '[env.staging]\ndeployed = "deploy/staging/timeouts.json"\n'
    )
    monkeypatch.chdir(repo)
    monkeypatch.delenv("ANALYZER_PROJECT_FILE", raising=False)
    fresh = tmp_path / "fresh"
    shutil.copytree(imported, fresh)

    run = json.loads(recommend(fresh).stdout)
    assert run["previous_from"] == f"deployed file {shipped}"
    rows = {
        (t["service"], f"{t['phase']}/{t['operation']}/{t['vpc_state']}"): t
        for t in run["timeouts"]
    }
    healthy = rows[(None, "3/connection/healthy")]
    assert (healthy["timeout_s"], healthy["source"]) == (100.0, "previous")
    kept = [k for k in raised if rows[k]["source"] != "recommended"]
    assert len(kept) > len(raised) // 2  # most raised keys have no evidence in the window
    for key in kept:
        assert rows[key]["timeout_s"] >= raised[key], (key, rows[key]["timeout_s"], raised[key])
    # what ships keeps them: a service asking for the key gets the raised value
    assert export(fresh, tmp_path / "new.json").exit_code == 0
    code = (
        "from analyzer.runtime import get_capacity_aware_database_timeout as t\n"
        "print(t('staging', 'connection', 'healthy'))\n"
    )
    env_vars = {"ANALYZER_TIMEOUT_CONFIG": str(tmp_path / "new.json"), "PATH": "/usr/bin:/bin"}
    service = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env_vars, timeout=60
    )
    assert service.stdout.strip() == "100.0", service.stderr

    # a store with history still carries from the deployed file, and --previous wins over it
    again = json.loads(recommend(fresh).stdout)
    assert again["previous_from"] == f"deployed file {shipped}"
    other = tmp_path / "other.json"
    assert export(last_week, other).exit_code == 0
    chosen = json.loads(recommend(fresh, "--previous", str(other)).stdout)
    assert chosen["previous_from"] == f"file {other}"

    # nothing deployed yet: the latest saved run, and the table says the file is not there
    shipped.unlink()
    table = cli("recommend", "--env", "staging", "--store", str(fresh), "--no-history")
    assert table.exit_code == 0, table.output
    header = " ".join(table.stdout.split())  # the table's prose lines wrap at 120 columns
    assert f"run {chosen['run_id']} (nothing deployed at {shipped} yet)" in header
    # a deployed path that is there but broken is an error naming it, not "nothing deployed"
    shipped.symlink_to(tmp_path / "gone.json")
    broken = cli("recommend", "--env", "staging", "--store", str(fresh), "--no-history")
    assert broken.exit_code == 1 and str(shipped) in broken.stderr


def test_a_drop_beyond_the_confidence_interval_is_shown(lake: Path, tmp_path: Path) -> None:
    deployed = tmp_path / "deployed.json"
    document = {
        "schema_version": 2,
        "env": "staging",
        "timeouts": [
            {"phase": 3, "operation": "initialization", "vpc_state": s, "timeout_s": 230.0}
            for s in ("healthy", "critical")
        ],
        "breaker": {"failure_threshold": 3, "recovery_timeout_s": 60, "half_open_max_calls": 1},
    }
    deployed.write_text(json.dumps(document))
    result = cli(
        *("recommend", "--env", "staging", "--store", str(lake), "--previous", str(deployed)),
        "--all",
    )
    assert "(down from 230 s)" in result.stdout


# 3. One validator.

ISSUE_CASES = {
    "timeouts.0.vpc_state": ("vpc_state", "presure", "did you mean 'pressure'"),
    "timeouts.0.operation": ("operation", "initialisation", "did you mean 'initialization'"),
    "timeouts.0.phase": ("phase", 99, "less than or equal to 20"),
    "timeouts.0.timeout_s": ("timeout_s", 1000, "less than or equal to 240"),
}


def config_document(**changes: Any) -> dict[str, Any]:
    entry = {"phase": 3, "operation": "initialization", "vpc_state": "pressure", "timeout_s": 80}
    entry.update(changes)
    return {
        "schema_version": 2,
        "env": "staging",
        "timeouts": [entry],
        "breaker": {"failure_threshold": 2, "recovery_timeout_s": 600, "half_open_max_calls": 1},
    }


def test_check_backtest_and_the_runtime_refuse_the_same_five_problems(
    imported: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    document = config_document(
        vpc_state="presure", operation="initialisation", phase=99, timeout_s=1000
    )
    document["breaker"]["recovery_timeout_s"] = 5000
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    checked = cli("export", "--check", str(path))
    replayed = cli("backtest", "--env", "staging", "--store", str(imported), "--config", str(path))
    for result in (checked, replayed):
        assert result.exit_code == 1
        assert "5 problem(s)" in result.stderr, result.stderr
        for where, (_, _, said) in ISSUE_CASES.items():
            assert where in result.stderr and said in result.stderr
        assert "breaker.recovery_timeout_s" in result.stderr
    with caplog.at_level(logging.WARNING, logger="analyzer.runtime"):
        assert runtime.load_config(path) is None
    assert len([r for r in caplog.records if r.name == "analyzer.runtime"]) == 1
    assert runtime.get_capacity_aware_database_timeout("staging", "initialization", "pressure") == (
        95.0
    )


@pytest.mark.parametrize("case", list(ISSUE_CASES))
def test_each_problem_alone_is_refused_by_both(case: str, tmp_path: Path) -> None:
    key, value, said = ISSUE_CASES[case]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(config_document(**{key: value})))
    result = cli("export", "--check", str(path))
    assert result.exit_code == 1 and said in result.stderr
    with pytest.raises(runtime.ConfigError, match=key):
        runtime.read_config(path)


def test_a_misspelt_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    document = config_document()
    document["timeouts"][0]["timout_s"] = document["timeouts"][0].pop("timeout_s")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    result = cli("export", "--check", str(path))
    assert "timeouts.0.timout_s: unknown key; did you mean 'timeout_s'?" in result.stderr
    with pytest.raises(runtime.ConfigError, match="did you mean 'timeout_s'"):
        runtime.read_config(path)


def test_what_check_accepts_the_runtime_uses_exactly(tmp_path: Path) -> None:
    path = tmp_path / "good.json"
    path.write_text(json.dumps(config_document(timeout_s=240)))
    assert cli("export", "--check", str(path)).exit_code == 0
    assert service_timeouts(path)["pressure"] == 240.0


# 4. The service says what it runs.


def test_config_loaded_is_emitted_once_and_imports_back_per_revision(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    from analyzer.analysis.summary import summarize
    from analyzer.engine import local_engine
    from analyzer.runtime import CloudRunJsonFormatter
    from tests.conftest import entry, write_ndjson

    document = config_document()
    document["provenance"] = {"run_id": "abcd1234", "generated_at": "2026-11-30T10:00:00Z"}
    path = tmp_path / "timeouts.json"
    path.write_text(json.dumps(document))
    monkeypatch.setenv("ANALYZER_TIMEOUT_CONFIG", str(path))
    monkeypatch.setenv("K_SERVICE", "backend")
    with caplog.at_level(logging.INFO, logger="analyzer.startup"):
        runtime.get_capacity_aware_database_timeout("staging", "initialization")
        runtime.get_capacity_aware_database_timeout("staging", "connection")
        runtime.get_database_circuit_breaker()
    loads = [
        r for r in caplog.records if getattr(r, "telemetry", {}).get("event") == "config_loaded"
    ]
    assert len(loads) == 1 and loads[0].levelno == logging.INFO
    fields = loads[0].telemetry  # type: ignore[attr-defined]
    assert fields["outcome"] == "loaded" and fields["config_path"] == str(path)
    assert fields["config_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (fields["env"], fields["service"], fields["schema_version"]) == ("staging", "backend", 2)
    assert fields["generated_at"] == "2026-11-30T10:00:00Z"

    runtime.reset_runtime()
    monkeypatch.setenv("ANALYZER_TIMEOUT_CONFIG", str(tmp_path / "missing.json"))
    with caplog.at_level(logging.INFO, logger="analyzer.startup"):
        runtime.get_database_timeout_config("staging")
    fallback = [
        r for r in caplog.records if getattr(r, "telemetry", {}).get("event") == "config_loaded"
    ]
    assert fallback[-1].telemetry["outcome"] == "fallback"  # type: ignore[attr-defined]
    assert "cannot read" in fallback[-1].telemetry["error"]  # type: ignore[attr-defined]

    entries = []
    for n, (record, revision) in enumerate(
        ((loads[0], "backend-00002"), (fallback[-1], "backend-00003"))
    ):
        payload = json.loads(CloudRunJsonFormatter().format(record))
        del payload["severity"]
        made = entry(payload, t=n, instance=f"i-{n}")
        made["resource"]["labels"]["revision_name"] = revision
        entries.append(made)
    store = Store(tmp_path / "lake")
    result = import_paths([write_ndjson(tmp_path / "e.jsonl", entries)], env="staging", store=store)
    assert result.stored == 2 and result.quarantined == 0
    configs = {c.revision: c for c in summarize(engine=local_engine(store), env="staging").configs}
    assert configs["backend-00002"].config_sha256 == fields["config_sha256"]
    assert configs["backend-00002"].run_id == "abcd1234"
    assert configs["backend-00003"].outcome == "fallback"
    shown = cli("summary", "--env", "staging", "--store", str(store.root))
    assert "backend-00002" in shown.stdout and fields["config_sha256"][:12] in shown.stdout


def test_names_match_whatever_their_case_and_another_env_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "timeouts.json"
    document = config_document()
    document["breaker"]["failure_threshold"] = 2
    path.write_text(json.dumps(document))
    runtime.load_config(path)
    get = runtime.get_capacity_aware_database_timeout
    assert get("Staging", "initialization", "PRESSURE") == 80.0
    with caplog.at_level(logging.WARNING, logger="analyzer.runtime"):
        assert get("production", "initialization", "pressure") == 95.0
        assert get("production", "initialization", "pressure") == 95.0
    warnings = [r.getMessage() for r in caplog.records if r.name == "analyzer.runtime"]
    assert len(warnings) == 1 and "'staging'" in warnings[0] and "'production'" in warnings[0]
    # The breaker serves the env the timeout getters were asked for: production, the defaults.
    assert runtime.get_database_circuit_breaker().failure_threshold == 5
    assert runtime.get_database_circuit_breaker("STAGING").failure_threshold == 2
    runtime.reset_runtime()
    runtime.load_config(path)
    assert get("staging", "initialization", "pressure") == 80.0
    assert runtime.get_database_circuit_breaker().failure_threshold == 2


# 5. Reviewable in a pull request.


def test_export_diff_gates_on_changes_beyond_min_change(
    recommended_lake: Path, tmp_path: Path
) -> None:
    lake = recommended_lake
    deployed = tmp_path / "deployed.json"
    assert export(lake, deployed).exit_code == 0
    same = cli("export", "--env", "staging", "--store", str(lake), "--diff", str(deployed))
    assert same.exit_code == 0 and "no change" in same.stdout

    document = json.loads(deployed.read_text())
    changed = copy.deepcopy(document)
    for t in changed["timeouts"]:
        key = (t["phase"], t["operation"], t["vpc_state"])
        if key == (3, "initialization", "critical"):
            old_critical, t["timeout_s"] = t["timeout_s"], 60.0
        if key == (3, "initialization", "healthy"):
            t["timeout_s"] += 1.0  # under 2 s: not a change that counts
    deployed.write_text(json.dumps(changed))
    result = cli("export", "--env", "staging", "--store", str(lake), "--diff", str(deployed))
    assert result.exit_code == 1, result.output
    line = next(x for x in result.stdout.splitlines() if x.startswith("3/initialization/critical"))
    assert f"60 s -> {old_critical:g} s" in line
    assert "%" in line and "yes" in line
    healthy = next(
        x for x in result.stdout.splitlines() if x.startswith("3/initialization/healthy")
    )
    assert "no (under" in healthy
    only_small = copy.deepcopy(document)
    for t in only_small["timeouts"]:
        if (t["phase"], t["operation"], t["vpc_state"]) == (3, "initialization", "healthy"):
            t["timeout_s"] += 1.0
    deployed.write_text(json.dumps(only_small))
    small = cli("export", "--env", "staging", "--store", str(lake), "--diff", str(deployed))
    assert small.exit_code == 0, small.output
    loose = cli(
        *("export", "--env", "staging", "--store", str(lake), "--diff", str(deployed)),
        *("--min-change", "0%,0s"),
    )
    assert loose.exit_code == 1


def test_two_exports_with_the_same_values_differ_only_in_provenance(
    recommended_lake: Path, tmp_path: Path
) -> None:
    import difflib

    lake = recommended_lake
    assert export(lake, tmp_path / "a.json").exit_code == 0
    recommend(lake)
    assert export(lake, tmp_path / "b.json").exit_code == 0
    a = (tmp_path / "a.json").read_text().splitlines()
    b = (tmp_path / "b.json").read_text().splitlines()
    block = a.index('  "provenance": {')
    changed = [
        i
        for tag, i1, i2, _, _ in difflib.SequenceMatcher(a=a, b=b).get_opcodes()
        if tag != "equal"
        for i in range(i1, i2)
    ]
    # the second standing run, identical, is not saved again: the same run, exported anew
    assert min(changed, default=len(a)) > block
    piped = cli("export", "--env", "staging", "--store", str(lake), "--out", "-")
    assert piped.exit_code == 0 and json.loads(piped.stdout)["env"] == "staging"
    assert not Path("-").exists()


# 7. A hostile file never hangs or exhausts the service or the CLI.


def _hostile(tmp_path: Path) -> dict[str, Path]:
    import os

    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    bomb = tmp_path / "bomb.yaml"  # 10^9 leaves: formatting it into a message never ends
    parts = ["&a0 [" + ", ".join(["x"] * 10) + "]"]
    parts += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    bomb.write_text("schema_version: [" + ", ".join(parts) + "]\nenv: staging\n")
    return {"fifo": fifo, "zero": zero, "bomb": bomb}


def test_hostile_files_are_refused_quickly(tmp_path: Path) -> None:
    """A FIFO with no writer, a link to /dev/zero and a YAML alias bomb: the service (in a
    process limited to 1 GB) and the CLI's checks each refuse them at once."""
    paths = [str(p) for p in _hostile(tmp_path).values()]
    service = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from analyzer.runtime import load_config, reset_runtime\n"
        "from analyzer.runtime import get_capacity_aware_database_timeout as t\n"
        "for path in sys.argv[1:]:\n"
        "    reset_runtime()\n"
        "    assert load_config(path) is None, path\n"
        "    print(t('staging', 'initialization', 'pressure'))\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", service, *paths], capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert ran.stdout.split() == ["95.0"] * 3 and len(ran.stderr) < 3000
    checks = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from analyzer.cli import main\n"
        "for path in sys.argv[1:]:\n"
        "    for args in (['export', '--check', path], ['backtest', '--env', 'staging', "
        "'--config', path]):\n"
        "        result = CliRunner().invoke(main, args)\n"
        "        assert result.exit_code == 1 and result.exception is None or "
        "isinstance(result.exception, SystemExit), result.output\n"
        "        print(len(result.stderr), result.stderr.strip()[:200])\n"
    )
    (tmp_path / "data" / "lake").mkdir(parents=True)  # backtest's default store: it exists
    ran = subprocess.run(
        [sys.executable, "-c", checks, *paths],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    lines = ran.stdout.splitlines()
    assert len(lines) == 6 and all(int(line.split()[0]) < 1000 for line in lines), lines
    assert sum("not a regular file" in line for line in lines) == 4


# 6. `import --env` selects.


def test_import_env_selects_and_the_summary_names_the_env(tmp_path: Path) -> None:
    from tests.conftest import entry, write_ndjson

    started = {"event": "phase_started", "phase": 3}
    entries = [
        entry({**started, "env": "staging"}, t=1, instance="a"),
        entry({**started, "env": "staging"}, t=2, instance="b"),
        entry(started, t=3, instance="c"),
    ]
    export_file = write_ndjson(tmp_path / "mixed.jsonl", entries)
    store = tmp_path / "lake"
    result = cli("import", str(export_file), "--env", "production", "--store", str(store))
    assert result.exit_code == 0, result.output
    assert "stored 1 in env production" in result.stdout
    assert "2 carrying another env: staging 2" in result.stdout
    assert not list(store.glob("events/env=staging"))
    again = cli("import", str(export_file), "--env", "staging", "--store", str(store))
    assert "stored 2 in env staging, duplicates 1" in again.stdout  # ids are store-wide
    assert len(list(store.glob("events/env=*"))) == 2


def test_a_deployed_file_for_another_env_is_refused(recommended_lake: Path, tmp_path: Path) -> None:
    lake = recommended_lake
    deployed = tmp_path / "production.json"
    deployed.write_text(json.dumps({**config_document(), "env": "production"}))
    carried = cli(
        *("recommend", "--env", "staging", "--store", str(lake), "--previous", str(deployed))
    )
    assert carried.exit_code == 1 and "not 'staging'" in carried.stderr
    diffed = cli("export", "--env", "staging", "--store", str(lake), "--diff", str(deployed))
    assert diffed.exit_code == 2 and "not 'staging'" in diffed.stderr


def test_threads_starting_at_once_load_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    path = tmp_path / "timeouts.json"
    path.write_text(json.dumps(config_document()))
    monkeypatch.setenv("ANALYZER_TIMEOUT_CONFIG", str(path))
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        runtime.get_capacity_aware_database_timeout("staging", "initialization", "pressure")

    with caplog.at_level(logging.INFO, logger="analyzer.startup"):
        threads = [threading.Thread(target=ask) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    loads = [
        r for r in caplog.records if getattr(r, "telemetry", {}).get("event") == "config_loaded"
    ]
    assert len(loads) == 1


def test_the_standing_run_is_the_project_files_window_and_policy(
    lake: Path, tmp_path: Path
) -> None:
    project = tmp_path / "analyzer.toml"
    project.write_text('[env.staging.policy]\nsince = "14d"\nmargin = 0.3\n')
    base = ("--project-file", str(project), "recommend", "--env", "staging", "--store", str(lake))
    standing = cli(*base, "--format", "json")
    assert standing.exit_code == 0, standing.output
    assert "saved as run" in standing.stderr
    run = json.loads(standing.stdout)
    assert run["overrides"] == {} and run["policy"]["margin"] == 0.3
    look = cli(*base, "--since", "28d", "--format", "json")
    assert "not saved" in look.stderr and json.loads(look.stdout)["overrides"] == {"since": "28d"}
    same = cli(*base, "--margin", "0.3", "--since", "2w", "--format", "json")
    assert "saved as run" in same.stderr  # the standing values, spelt out
