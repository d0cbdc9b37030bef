"""A lake in a bucket (`--store gs://BUCKET/PREFIX`), against a GCS emulator on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from analyzer.cli import main
from analyzer.errors import AnalyzerError
from analyzer.ingest import import_paths
from analyzer.lake.gcs import close_bucket_lakes, open_bucket_lake
from analyzer.lake.store import Store
from tests.conftest import emulator_cannot_start, entry, read_view, write_ndjson


@pytest.fixture(scope="module")
def emulator_host() -> Iterator[str]:
    try:
        from tests.gcs_emulator import start_emulator

        server, host = start_emulator()
    except Exception as exc:  # any failure to start: skipped here, failed in CI
        emulator_cannot_start(f"the GCS emulator cannot start here: {exc}")
    yield host
    server.stop()


@pytest.fixture
def bucket(emulator_host: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """The emulator's bucket, a cache of this test's own, and the client as a user has it."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator_host)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    yield storage.Client(project="test", credentials=AnonymousCredentials()).bucket("lake")
    close_bucket_lakes()


def _names(bucket: Any, prefix: str) -> list[str]:
    return sorted(b.name.removeprefix(prefix + "/") for b in bucket.list_blobs(prefix=prefix + "/"))


def _run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return re.sub(r"\(import [0-9a-f]{8}\)", "(import ID)", result.stdout)  # each its own id


def _fresh_cache(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))


def test_every_command_works_on_a_bucket_from_a_fresh_cache(
    bucket: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    export = tmp_path / "e.jsonl.gz"
    _run("simulate", "--env", "staging", "--days", "3", "--out", str(export))
    local = ["--env", "staging", "--store", str(tmp_path / "local")]
    remote = ["--env", "staging", "--store", "gs://lake/every"]
    assert _run("import", str(export), *remote) == _run("import", str(export), *local)
    names = _names(bucket, "every")
    assert any(n.startswith("events/env=staging/date=") for n in names)
    assert {"segment-checksums.sha256", "sealed-segments.txt"} <= set(names)
    assert ".lock" not in names  # released

    _fresh_cache(monkeypatch, tmp_path / "cache-2")
    assert _run("summary", *remote) == _run("summary", *local)

    def counted(args: list[str]) -> list[tuple[Any, ...]]:  # the evidence each timeout rests on
        rec = json.loads(_run("recommend", *args, "--format", "json"))
        keys = ("phase", "operation", "vpc_state", "attempts", "completed", "censored")
        return [(*(t[k] for k in keys), t["quantiles_s"]["p50"]) for t in rec["timeouts"]]

    assert counted(remote) == counted(local)
    assert any(n.startswith("recommendations/env=staging/rec_") for n in _names(bucket, "every"))

    _fresh_cache(monkeypatch, tmp_path / "cache-3")  # history and export read what was pushed
    assert len(json.loads(_run("history", *remote, "--format", "json"))) == 1
    out = tmp_path / "timeouts.json"
    _run("export", *remote, "--out", str(out))
    assert json.loads(out.read_text())["env"] == "staging"

    def observed(args: list[str]) -> tuple[Any, ...]:  # the replay's data, not its prediction
        overall = json.loads(_run("backtest", *args, "--format", "json"))["overall"]
        return overall["attempts"], overall["success_rate_observed"]

    assert observed(remote) == observed(local)
    _run("report", *remote, "--out", str(tmp_path / "report.html"))
    assert (tmp_path / "report.html").stat().st_size > 0
    _run("import", str(export), *remote)  # adds nothing
    _run("compact", *remote)
    _run("verify", "--store", "gs://lake/every")  # exits 1 on a damaged segment
    _fresh_cache(monkeypatch, tmp_path / "cache-4")
    assert _run("summary", *remote) == _run("summary", *local)
    lake = Store.resolve("gs://lake/every")
    days = {p.parent for p in lake.segments("events")}
    assert len(lake.segments("events")) == len(days)  # compacted: one segment a day
    assert lake.all_sealed(lake.segments("events"))
    close_bucket_lakes()
    assert not list((tmp_path / "cache-4").rglob("work/*"))  # working copies removed


def test_compact_of_an_empty_prefix_names_the_bucket_and_leaves_nothing(bucket: Any) -> None:
    result = CliRunner().invoke(main, ["compact", "--env", "staging", "--store", "gs://lake/no"])
    assert result.exit_code == 3
    assert "no store at gs://lake/no" in result.output
    assert _names(bucket, "no") == []


def test_collect_into_a_bucket_resumes_from_the_checkpoint_it_pushed(
    bucket: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from analyzer.ingest.collect import collect
    from tests.fake_cloud_logging import running
    from tests.test_collect import ENTRIES, TELEMETRY_IDS, request

    with running(ENTRIES) as cloud:
        first = collect(request(cloud), store=Store.resolve("gs://lake/collect"))
        assert first.stored.stored == len(TELEMETRY_IDS)
        assert any(n.startswith("checkpoints/") for n in _names(bucket, "collect"))
        _fresh_cache(monkeypatch, tmp_path / "cache-2")
        again = collect(request(cloud, since=None), store=Store.resolve("gs://lake/collect"))
    assert again.stored.stored == 0
    assert again.since == datetime(2026, 10, 26, 23, 55, tzinfo=UTC)  # from the bucket's checkpoint
    ids = [r[0] for r in read_view(Store.resolve("gs://lake/collect"), "lake_rows", "insert_id")]
    assert len(ids) == len(TELEMETRY_IDS) == len(set(ids))


def test_a_second_writer_waits_for_the_lock_then_gives_up_naming_the_holder(
    bucket: Any, tmp_path: Path
) -> None:
    rows = write_ndjson(tmp_path / "a.jsonl", [entry({"event": "phase_started", "phase": 1})])
    holder = open_bucket_lake("gs://lake/locked")
    with holder.writer(timeout_s=None):
        started = time.monotonic()
        result = CliRunner().invoke(
            main,
            [
                "import",
                str(rows),
                "--env",
                "staging",
                "--store",
                "gs://lake/locked",
                "--lock-timeout",
                "0.5",
            ],
        )
        assert time.monotonic() - started >= 0.5
        assert result.exit_code == 1
        assert f"locked by pid {os.getpid()}" in result.output
        assert "gcloud storage rm gs://lake/locked/.lock" in result.output
        assert not any(n.startswith("events/") for n in _names(bucket, "locked"))
    # Freed: a writer that waits gets it.
    release = threading.Event()

    def hold() -> None:
        with open_bucket_lake("gs://lake/locked").writer(timeout_s=None):
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    time.sleep(0.3)
    threading.Timer(0.7, release.set).start()
    result = CliRunner().invoke(
        main, ["import", str(rows), "--env", "staging", "--store", "gs://lake/locked"]
    )
    thread.join()
    assert result.exit_code == 0, result.output
    assert "waiting for the lock of store gs://lake/locked" in result.output
    assert any(n.startswith("events/") for n in _names(bucket, "locked"))


def test_a_push_whose_record_changed_meanwhile_fails_and_loses_nothing(
    bucket: Any, tmp_path: Path
) -> None:
    first = write_ndjson(
        tmp_path / "a.jsonl",
        [entry({"event": "phase_started", "phase": 1}, t=i, instance=f"a{i}") for i in range(5)],
    )
    second = write_ndjson(
        tmp_path / "b.jsonl",
        [entry({"event": "phase_started", "phase": 2}, t=i, instance=f"b{i}") for i in range(5)],
    )
    import_paths([first], env="staging", store=Store.resolve("gs://lake/cas"))
    seals = bucket.blob("cas/sealed-segments.txt")
    theirs = seals.download_as_bytes() + b"written by a writer that ignored the lock\n"

    def interfere(_: object) -> None:  # while the import holds the lock, before it pushes
        bucket.blob("cas/sealed-segments.txt").upload_from_string(theirs)

    with pytest.raises(AnalyzerError, match=r"sealed-segments\.txt was changed by someone else"):
        import_paths(
            [second], env="staging", store=Store.resolve("gs://lake/cas"), on_progress=interfere
        )
    assert bucket.blob("cas/sealed-segments.txt").download_as_bytes() == theirs  # not lost
    assert ".lock" not in _names(bucket, "cas")

    import_paths([second], env="staging", store=Store.resolve("gs://lake/cas"))
    ids = [r[0] for r in read_view(Store.resolve("gs://lake/cas"), "lake_rows", "insert_id")]
    assert len(ids) == 10 == len(set(ids))


CHILD = """
import sys
import analyzer.ingest.sources as sources
sources.BATCH_FILES = 1
from analyzer.cli import main
main()
"""


@pytest.mark.slow
def test_sigkill_mid_push_then_rerun_leaves_each_event_once(
    bucket: Any, emulator_host: str, tmp_path: Path
) -> None:
    exports = tmp_path / "exports"
    for n in range(30):  # one segment per file and day: many objects to push
        write_ndjson(
            exports / f"part-{n:03d}.jsonl",
            [
                entry(
                    {"event": "phase_started", "phase": 1 + i % 5},
                    t=n * 86400 + i,
                    instance=f"i{n}-{i}",
                )
                for i in range(50)
            ],
        )
    env = {
        **os.environ,
        "STORAGE_EMULATOR_HOST": emulator_host,
        "XDG_CACHE_HOME": str(tmp_path / "child-cache"),
    }
    command = [
        sys.executable,
        "-c",
        CHILD,
        "import",
        str(exports),
        "--env",
        "staging",
        "--store",
        "gs://lake/crash",
    ]
    child = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(n.startswith("events/") for n in _names(bucket, "crash")):
            break
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait()
    names = _names(bucket, "crash")
    assert ".lock" in names, "the kill came after the push: nothing was tested"
    pushed = [n for n in names if n.startswith("events/")]
    assert 0 < len(pushed) < 30

    # Readable as it was left: whole segments, each event once.
    ids = [r[0] for r in read_view(Store.resolve("gs://lake/crash"), "lake_rows", "insert_id")]
    assert len(ids) == len(set(ids)) > 0
    # The rerun removes the dead writer's lock (same host, pid gone) and finishes the job.
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert "removing the stale lock of store gs://lake/crash" in rerun.stderr
    store = Store.resolve("gs://lake/crash")
    ids = [r[0] for r in read_view(store, "lake_rows", "insert_id")]
    assert len(ids) == 30 * 50 == len(set(ids))
    assert ".lock" not in _names(bucket, "crash")


def test_fleet_commands_and_verify_fix_on_a_bucket(
    bucket: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """regressions and blame answer from a bucket as from a folder; a segment damaged in the
    bucket is named by verify, moved aside by verify --fix (in the bucket, where the next
    machine reads it), and the rest of the lake reads again."""
    export = tmp_path / "fleet.jsonl"
    _run(
        "simulate", "--env", "staging", "--days", "4", "--services", "backend,auth",
        "--regression", "auth:1.5", "--out", str(export),
    )  # fmt: skip
    local = ["--env", "staging", "--store", str(tmp_path / "local")]
    remote = ["--env", "staging", "--store", "gs://lake/fleet"]
    _run("import", str(export), *local)
    _run("import", str(export), *remote)
    for command in ("regressions", "blame"):
        _fresh_cache(monkeypatch, tmp_path / f"cache-{command}")
        answer = _run(command, *remote, "--format", "json")
        assert answer == _run(command, *local, "--format", "json")
    assert any(
        c["flagged"]
        for c in json.loads(_run("regressions", *remote, "--format", "json"))["comparisons"]
    )  # the injected regression is found from the bucket too

    victim = next(n for n in _names(bucket, "fleet") if n.endswith(".parquet"))
    bucket.blob(f"fleet/{victim}").upload_from_string(b"not a parquet file")
    _fresh_cache(monkeypatch, tmp_path / "cache-damaged")
    found = CliRunner().invoke(main, ["verify", "--store", "gs://lake/fleet"])
    assert found.exit_code == 1 and victim in found.output, found.output
    _run("verify", "--store", "gs://lake/fleet", "--fix")
    names = _names(bucket, "fleet")
    assert victim not in names
    assert any(n.startswith("damaged/") and n.endswith(victim) for n in names), names
    _fresh_cache(monkeypatch, tmp_path / "cache-fixed")  # the next machine sees the fix
    _run("verify", "--store", "gs://lake/fleet")
    json.loads(_run("summary", *remote, "--format", "json"))


def test_objects_whose_names_leave_the_prefix_are_skipped_with_one_warning(
    bucket: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`PREFIX//abs/path` once made the cache write to /abs/path on the operator's machine."""
    rows = write_ndjson(tmp_path / "a.jsonl", [entry({"event": "phase_started", "phase": 1})])
    _run("import", str(rows), "--env", "staging", "--store", "gs://lake/keys")
    victim = tmp_path / "outside" / "victim.txt"
    victim.parent.mkdir()
    victim.write_text("the operator's file")
    hostile = [
        f"keys/{victim}",  # keys//tmp/...: an absolute path
        "keys/./events/x.parquet",
        "keys/events//x.parquet",
        "keys/events\\x.parquet",
        "keys/events/x\0.parquet",
    ]  # (the emulator refuses `..` parts itself; the last lines try them on the way up)
    for name in hostile:
        bucket.blob(name).upload_from_string(b"written by whoever can write one object")
    _fresh_cache(monkeypatch, tmp_path / "cache-2")
    result = CliRunner().invoke(main, ["summary", "--env", "staging", "--store", "gs://lake/keys"])
    assert result.exit_code == 0, result.output
    assert victim.read_text() == "the operator's file"
    (warning,) = [line for line in result.stderr.splitlines() if "skipped 5 object(s)" in line]
    assert all(repr(name) in warning for name in hostile)
    written = [p for p in (tmp_path / "cache-2").rglob("*") if p.is_file()]
    assert written and not [p for p in written if p.name.startswith("x")]

    for store in ("gs://lake/../../outside", "gs://../x", "gs://lake/a/./b"):  # and in --store
        refused = CliRunner().invoke(main, ["summary", "--env", "staging", "--store", store])
        assert refused.exit_code == 1 and "invalid store" in refused.output, refused.output
    lake = open_bucket_lake("gs://lake/keys")  # the same rule on the way up
    for key in ("/etc/passwd", "a/../b", "a//b", "a\\b", "a\0b", ""):
        with pytest.raises(AnalyzerError, match="refused object key"):
            lake._upload(key, rows, if_generation_match=0)


KILLED = """
import os, signal
from analyzer.lake.store import Store
Store.resolve("gs://lake/killed")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_commands_working_copy_is_removed_by_the_next_run(
    bucket: Any, emulator_host: str, tmp_path: Path
) -> None:
    rows = write_ndjson(tmp_path / "a.jsonl", [entry({"event": "phase_started", "phase": 1})])
    _run("import", str(rows), "--env", "staging", "--store", "gs://lake/killed")
    env = {**os.environ, "STORAGE_EMULATOR_HOST": emulator_host}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    killed = subprocess.Popen([sys.executable, "-c", KILLED], env=env)
    assert killed.wait(timeout=60) == -signal.SIGKILL
    work = tmp_path / "cache" / "analyzer" / "gcs" / "lake" / "killed" / "work"
    (left,) = list(work.iterdir())
    assert str(killed.pid) in left.name and any(left.rglob("*.parquet"))
    alive = work / f"{os.uname().nodename}-{os.getpid()}-0123456789ab"  # a running command's
    alive.mkdir()
    _run("summary", "--env", "staging", "--store", "gs://lake/killed")
    assert not left.exists() and alive.is_dir()


@pytest.mark.slow
def test_a_bucket_that_dies_or_answers_5xx_mid_push_ends_the_command_in_one_line(
    bucket: Any, emulator_host: str, tmp_path: Path
) -> None:
    """The bound: a request is retried for RETRY_S (20 s) and waits at most REQUEST_TIMEOUT_S
    (20 s) for an answer, so the command ends within 40 s of the failure with one line naming
    the store and the error, exit 1 (before: 134-309 s of silence, then exit 70). Both
    stand-ins fail after the lock and two segments are pushed. The commands run with RETRY_S
    set to 4 s (the module's constant, read at each request), so the bound is checked in
    seconds rather than by waiting out the 20 s the release ships with."""
    from analyzer.lake.gcs import REQUEST_TIMEOUT_S, RETRY_S
    from tests.gcs_emulator import FailingFront

    assert (RETRY_S, REQUEST_TIMEOUT_S) == (20.0, 20.0)  # what the docstring and docs promise
    retry_s = 4.0
    shortened = f"import analyzer.lake.gcs as g; g.RETRY_S = {retry_s}; "

    exports = tmp_path / "exports"
    for day in range(6):
        write_ndjson(
            exports / f"day-{day}.jsonl",
            [entry({"event": "phase_started", "phase": 1}, t=day * 86400 + i) for i in range(20)],
        )
    running = {}
    for how in ("5xx", "dying"):
        front = FailingFront(emulator_host, how=how, uploads_before_failing=3)
        env = {**os.environ, "STORAGE_EMULATOR_HOST": front.host}
        env["XDG_CACHE_HOME"] = str(tmp_path / f"cache-{how}")
        command = [sys.executable, "-c", "from analyzer.cli import main; main()", "import"]
        command += [str(exports), "--env", "staging", "--store", f"gs://lake/{how}"]
        failing = [command[0], "-c", shortened + command[2], *command[3:]]
        child = subprocess.Popen(failing, env=env, stderr=subprocess.PIPE, text=True)
        running[how] = (front, command, child, time.monotonic())
    bound_s = retry_s + REQUEST_TIMEOUT_S
    for how, (front, command, child, started) in running.items():
        _, stderr = child.communicate(timeout=bound_s + 60)
        took_s = time.monotonic() - started
        front.stop()
        assert front.failed_requests > 0, "the push ended before the bucket failed"
        assert child.returncode == 1, stderr
        *progress, last = stderr.strip().splitlines()
        assert last.startswith(f"error: store gs://lake/{how}: "), stderr
        assert ("503" if how == "5xx" else "Connection refused") in last, last
        assert any(f"retrying for up to {retry_s:g} s" in line for line in progress), stderr
        assert "Traceback" not in stderr and "internal error" not in stderr
        assert took_s < bound_s + 20, (how, took_s)  # + the import's own work, on a busy machine
        pushed = [n for n in _names(bucket, how) if n.startswith("events/")]
        assert 0 < len(pushed) < 6 and ".lock" in _names(bucket, how)
        # The bucket back: the rerun removes the lock the failed command left and finishes.
        env = {**os.environ, "STORAGE_EMULATOR_HOST": emulator_host}
        env["XDG_CACHE_HOME"] = str(tmp_path / f"cache-{how}")
        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        ids = [r[0] for r in read_view(Store.resolve(f"gs://lake/{how}"), "lake_rows", "insert_id")]
        assert len(ids) == 6 * 20 == len(set(ids))
