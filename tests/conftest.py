"""Small factories for Cloud Logging entries, export files and stores."""

from __future__ import annotations

import gzip
import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest
from hypothesis import settings

from analyzer.lake.store import Store

if TYPE_CHECKING:
    from tests.fake_cloud_logging import FakeCloudLogging

# The same examples on every run and machine, so a property test that passed here passes in CI;
# HYPOTHESIS_PROFILE=explore draws new ones (run it now and then to look for new failures).
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

T0 = datetime(2026, 10, 1, 12, 0, 0, tzinfo=UTC)


def emulator_cannot_start(reason: str) -> NoReturn:
    """Skip the emulator's tests where it cannot start here, but fail them in CI (`$CI` set),
    where every emulator must run: a CI run that skipped them would pass having checked less."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} ($CI is set: the emulators must run)")
    pytest.skip(reason)


def as_new_server(server: FakeCloudLogging, entries: list[dict[str, Any]]) -> FakeCloudLogging:
    """A module's running fake Logging server with its state as a new server's over `entries`
    (no faults, no requests; its address kept), so each test starts as on a server of its own
    without a server started and stopped per test."""
    from tests.fake_cloud_logging import FakeCloudLogging

    fresh = vars(FakeCloudLogging(entries=entries))
    vars(server).update({k: v for k, v in fresh.items() if k != "url"})
    return server


_ids = itertools.count(1)


def at(seconds: float) -> str:
    """An RFC 3339 timestamp `seconds` after T0."""
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry(
    payload: dict[str, Any] | str | None = None,
    *,
    t: float = 0.0,
    instance: str | None = "inst-1",
    insert_id: str | None = None,
    service: str = "backend",
    **extra: Any,
) -> dict[str, Any]:
    """A Cloud Run LogEntry: a dict payload becomes jsonPayload, a string textPayload."""
    e: dict[str, Any] = {
        "insertId": insert_id if insert_id is not None else f"id-{next(_ids):06d}",
        "timestamp": at(t),
        "severity": "INFO",
        "logName": "projects/p/logs/run.googleapis.com%2Fstdout",
        "resource": {
            "type": "cloud_run_revision",
            "labels": {"service_name": service, "revision_name": f"{service}-00001-abc"},
        },
    }
    if instance is not None:
        e["labels"] = {"instanceId": instance}
    if isinstance(payload, str):
        e["textPayload"] = payload
    elif payload is not None:
        e["jsonPayload"] = payload
    e.update(extra)
    return e


def write_ndjson(path: Path, entries: Iterable[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(e) + "\n" for e in entries)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def write_array(path: Path, entries: Iterable[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(entries), indent=2))
    return path


SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
SAMPLE_SPECS = {
    "staging": ("staging/staging-structured.jsonl.gz", "structured"),
    "production": ("production/production-text.jsonl.gz", "text"),
}


# The staging sample is a fleet: backend and auth at 2 startups an hour each, backend's newest
# revision 1.3x slower in phase 3 (data/sample/README.md gives the command).
SAMPLE_FLEET = {"services": "backend,auth", "startups_per_hour": 2.0, "regression": "backend:1.3"}


@pytest.fixture(scope="session")
def sample_manifests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The bundled sample, made again by the generator: its manifests, and the files."""
    from analyzer.simulate import SimulationSpec, write_export
    from analyzer.simulate_fleet import (
        FleetSpec,
        parse_regression,
        parse_services,
        write_fleet_export,
    )

    folder = tmp_path_factory.mktemp("sample")
    manifests: dict[str, Any] = {}
    for env, (name, form) in SAMPLE_SPECS.items():
        out = folder / name
        if env == "staging":
            services = parse_services(str(SAMPLE_FLEET["services"]))
            spec = SimulationSpec(
                env=env,
                form=form,  # type: ignore[arg-type]
                startups_per_hour=float(SAMPLE_FLEET["startups_per_hour"]),
            )
            fleet = FleetSpec(
                spec=spec,
                services=services,
                regression=parse_regression(str(SAMPLE_FLEET["regression"]), services),
            )
            manifests[env] = write_fleet_export(fleet, out)
        else:
            manifests[env] = write_export(SimulationSpec(env=env, form=form), out)  # type: ignore[arg-type]
        manifests[env].path = out
    return manifests


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "lake")


def read_view(store: Store, view: str = "lake_rows", columns: str = "*") -> list[tuple[Any, ...]]:
    """Rows of a view of the store, ordered, for comparisons."""
    from analyzer.engine.local import connect

    con = connect(store)
    try:
        return con.execute(f"SELECT {columns} FROM {view} ORDER BY ALL").fetchall()
    finally:
        con.close()


@pytest.fixture
def lake_rows(store: Store) -> Callable[[str, str], list[tuple[Any, ...]]]:
    """Rows of a view of the fixture's store, ordered, for comparisons."""

    def read(view: str, columns: str = "*") -> list[tuple[Any, ...]]:
        return read_view(store, view, columns)

    return read


@pytest.fixture
def fresh_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """analyzer.runtime with nothing loaded, no provider and no breaker, before and after."""
    from analyzer import runtime

    for name in (
        "ANALYZER_TIMEOUT_CONFIG",
        "ANALYZER_VPC_CONNECTOR",
        "ANALYZER_STRICT_CONFIG",
        "ENVIRONMENT",
    ):
        monkeypatch.delenv(name, raising=False)
    runtime.reset_runtime()
    yield
    runtime.reset_runtime()


@pytest.fixture(scope="session")
def recommended_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three simulated days of staging, imported through the CLI, with one recommendation."""
    from click.testing import CliRunner

    from analyzer.cli import main

    folder = tmp_path_factory.mktemp("recommended")
    store, export = folder / "lake", folder / "e.jsonl.gz"
    on = ["--env", "staging", "--store", str(store)]
    for args in (
        ["simulate", "--env", "staging", "--days", "3", "--out", str(export)],
        ["import", str(export), *on],
        ["recommend", *on],
    ):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
    return store


@pytest.fixture(scope="session")
def small_runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake of 8 runs of 20 entries, half of them on each of two days (one segment per run
    and day), made once."""
    from analyzer.ingest import import_paths

    folder = tmp_path_factory.mktemp("small-runs")
    store = Store(folder / "lake")
    for n in range(8):
        rows = [
            entry({"event": "phase_started", "phase": 1 + i % 5}, t=n * 10800 + i * 60)
            for i in range(20)
        ]
        import_paths([write_ndjson(folder / f"run-{n}.jsonl", rows)], env="staging", store=store)
    return store.root


@pytest.fixture
def small_runs(small_runs_root: Path, store: Store) -> Store:
    """A copy of the `small_runs_root` lake in the test's own store."""
    import shutil

    shutil.copytree(small_runs_root, store.root)
    return store


@pytest.fixture(scope="session")
def sample_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled staging sample (data/sample/staging), imported once per test worker; copy it
    (`copy_lake`) before writing to it."""
    from analyzer.ingest import import_paths

    root = tmp_path_factory.mktemp("sample-lake") / "lake"
    import_paths([SAMPLE / "staging"], env="staging", store=Store(root))
    return root


@pytest.fixture(scope="session")
def sample_recommended_lake(sample_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`sample_lake` with one standing `recommend --env staging` saved, made once per worker;
    copy it (`copy_lake`) before writing to it."""
    from click.testing import CliRunner

    from analyzer.cli import main

    root = copy_lake(sample_lake, tmp_path_factory.mktemp("sample-recommended"))
    result = CliRunner().invoke(main, ["recommend", "--env", "staging", "--store", str(root)])
    assert result.exit_code == 0, result.output
    return root


def copy_lake(root: Path, folder: Path) -> Path:
    """A copy of the lake at `root` as `folder/lake`, for a test that writes to it."""
    import shutil

    return Path(shutil.copytree(root, folder / "lake"))


def relabelled_sample(
    folder: Path, service_of: Callable[[dict[str, Any]], str | None], *, since: str = ""
) -> Store:
    """The staging sample from `since` on (an RFC 3339 prefix) imported into a store in
    `folder`, each entry's service renamed to `service_of(entry)` where that is not None."""
    text = gzip.decompress((SAMPLE / "staging" / "staging-structured.jsonl.gz").read_bytes())
    lines = []
    for line in text.decode().splitlines():
        entry = json.loads(line)
        if entry["timestamp"] < since:
            continue
        name = service_of(entry)
        if name is not None:
            entry["resource"]["labels"]["service_name"] = name
        lines.append(json.dumps(entry))
    source = folder / "relabelled.jsonl"
    source.write_text("\n".join(lines) + "\n")
    store = Store(folder / "lake")
    from analyzer.ingest import import_paths

    import_paths([source], env="staging", store=store)
    return store
