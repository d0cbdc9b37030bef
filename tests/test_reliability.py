"""Faults and bad input: kills at several points, concurrent writers, a corpus of bad entries,
and properties that must hold for any input."""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.engine.local import connect
from analyzer.errors import AnalyzerError
from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from analyzer.runtime import CircuitBreaker, load_config, reset_runtime
from analyzer.runtime.schema import ConfigError, parse_config
from tests.conftest import entry, write_ndjson
from tests.test_import_crash import CHILD, _contents, _exports

PYTHON = [sys.executable, "-c"]


@pytest.mark.slow
@pytest.mark.parametrize("segments_before_kill", [2, 5, 11])
def test_sigkill_at_several_points(tmp_path: Path, segments_before_kill: int) -> None:
    exports = _exports(tmp_path / "exports", files=24, per_file=150)
    reference = Store(tmp_path / "reference")
    import_paths([exports], env="staging", store=reference)
    crashed = Store(tmp_path / "crashed")
    child = subprocess.Popen([*PYTHON, CHILD, str(exports), str(crashed.root)])
    deadline = time.monotonic() + 60
    while len(crashed.segments("events")) < segments_before_kill and time.monotonic() < deadline:
        time.sleep(0.002)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert set(_contents(crashed)) <= set(_contents(reference))
    import_paths([exports], env="staging", store=crashed)
    assert _contents(crashed) == _contents(reference)


@pytest.mark.slow
def test_two_imports_at_once(tmp_path: Path) -> None:
    exports = _exports(tmp_path / "exports", files=12, per_file=200)
    store = Store(tmp_path / "lake")
    code = (
        "import sys; from pathlib import Path; from analyzer.ingest import import_paths; "
        "from analyzer.lake.store import Store; import_paths([Path(p) for p in sys.argv[2:]], "
        "env='staging', store=Store(Path(sys.argv[1])))"
    )
    files = sorted(exports.iterdir())
    first = subprocess.Popen([*PYTHON, code, str(store.root), *map(str, files[:8])])
    second = subprocess.Popen([*PYTHON, code, str(store.root), *map(str, files[4:])])
    assert first.wait() == 0 and second.wait() == 0
    con = connect(store)
    total, distinct = con.execute(
        "SELECT count(*), count(DISTINCT insert_id) FROM lake_rows"
    ).fetchall()[0]
    assert total == distinct == 12 * 200


def test_invalid_utf8_is_a_clear_error(tmp_path: Path, store: Store) -> None:
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(
        b'{"insertId": "a", "timestamp": "2026-10-01T00:00:00Z", "textPayload": "caf\xe9"}\n'
    )
    try:
        result = import_paths([bad], env="staging", store=store)
    except AnalyzerError as exc:
        assert "latin1.jsonl" in str(exc)
    else:
        assert result.read == 1 and result.stored + result.skipped + result.quarantined == 1


def test_a_ten_megabyte_entry_is_quarantined_whole(tmp_path: Path, store: Store) -> None:
    big = entry(
        {
            "event": "phase_failed",
            "phase": 3,
            "outcome": "error",
            "duration_s": 1.0,
            "error": "x" * (10 * 1024 * 1024),
        }
    )
    small = entry({"event": "startup_started"})
    result = import_paths(
        [write_ndjson(tmp_path / "big.jsonl.gz", [big, small])], env="staging", store=store
    )
    assert (result.stored, result.quarantined) == (1, 1)
    assert list(result.quarantine_reasons) == ["payload larger than 1048576 bytes"]
    import duckdb

    (kept,) = duckdb.execute(
        "SELECT entry FROM read_parquet(?)", [[str(p) for p in store.segments("quarantine")]]
    ).fetchall()[0]
    assert json.loads(kept) == big


def test_truncated_gzip_and_json_name_the_file(tmp_path: Path, store: Store) -> None:
    data = gzip.compress(b'{"insertId": "a"}\n' * 1000)
    (tmp_path / "cut.jsonl.gz").write_bytes(data[: len(data) // 3])
    (tmp_path / "cut.json").write_text('[{"insertId": "a", "timestamp": "2026-')
    for name in ("cut.jsonl.gz", "cut.json"):
        with pytest.raises(AnalyzerError, match=name.replace(".", r"\.")):
            import_paths([tmp_path / name], env="staging", store=store)


def _text(size: int) -> st.SearchStrategy[str]:
    """Text without lone surrogates: those are not JSON a reader accepts (DuckDB names the file
    and stops, as for any malformed file); the properties are about entries that parse."""
    return st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=size)


_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    _text(12),
)
_events = st.sampled_from(
    [
        "startup_started",
        "phase_started",
        "phase_completed",
        "phase_failed",
        "timeout_calculated",
        "vpc_state_changed",
        "made_up",
        "",
    ]
)


@st.composite
def log_entries(draw: st.DrawFn) -> dict:
    payload = draw(
        st.one_of(
            _text(60),
            st.fixed_dictionaries(
                {"event": _events},
                optional={
                    k: _scalar
                    for k in (
                        "phase",
                        "duration_s",
                        "timeout_s",
                        "outcome",
                        "vpc_state",
                        "vpc_utilization",
                        "exit_code",
                        "env",
                        "operation",
                    )
                },
            ),
        )
    )
    e = entry(
        payload if payload else None,
        t=draw(st.integers(0, 10**6)),
        insert_id=draw(st.sampled_from(["", "a", "b", "c"]) | st.uuids().map(str)),
    )
    if draw(st.booleans()):
        e["timestamp"] = draw(
            st.sampled_from(
                ["", "soon", "2026-10-01T00:00:00", "2026-13-45T00:00:00Z", e["timestamp"]]
            )
        )
    return e


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(entries=st.lists(log_entries(), min_size=1, max_size=25))
def test_any_entries_are_accounted_for(
    tmp_path_factory: pytest.TempPathFactory, entries: list[dict]
) -> None:
    folder = tmp_path_factory.mktemp("prop")
    store = Store(folder / "lake")
    result = import_paths([write_ndjson(folder / "e.jsonl", entries)], env="staging", store=store)
    assert result.read == len(entries)
    assert result.stored + result.duplicates + result.skipped + result.quarantined == result.read
    con = connect(store)
    (stored,) = con.execute("SELECT count(*) FROM lake_rows").fetchall()[0]
    assert stored == result.stored
    assert con.execute(
        "SELECT count(*) FROM lake_rows WHERE duration_s < 0 OR isnan(duration_s)"
    ).fetchall() == [(0,)]


_json = st.recursive(
    _scalar | st.floats(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_text(8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    document=_json
    | st.fixed_dictionaries(
        {"schema_version": st.just(2), "env": _scalar, "timeouts": _json, "breaker": _json}
    )
)
def test_the_runtime_config_parser_only_ever_says_config_error(document: object) -> None:
    with contextlib.suppress(ConfigError):
        parse_config(document)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.binary(max_size=200))
def test_loading_any_file_never_raises(
    tmp_path_factory: pytest.TempPathFactory, text: bytes
) -> None:
    path = tmp_path_factory.mktemp("cfg") / "c.json"
    path.write_bytes(text)
    reset_runtime()
    load_config(path)  # a warning at most
    reset_runtime()


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["ask", "ok", "fail"]), st.floats(0, 50, allow_nan=False)),
        max_size=60,
    ),
    threshold=st.integers(1, 5),
    probes=st.integers(1, 3),
)
def test_breaker_invariants(steps: list[tuple[str, float]], threshold: int, probes: int) -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold, 10.0, probes, clock=lambda: now[0])
    in_half_open = 0
    failures_in_a_row = 0
    for action, advance in steps:
        now[0] += advance
        before = breaker.state
        if action == "ask":
            allowed = breaker.should_attempt_request()
            if breaker.state == "HALF_OPEN" and allowed:
                in_half_open += 1
            assert in_half_open <= probes
            if before == "CLOSED":
                assert allowed
        elif action == "ok":
            breaker.record_success()
            if before != "OPEN":
                assert breaker.state == "CLOSED"
                failures_in_a_row = 0
        else:
            breaker.record_failure(None)
            if before == "HALF_OPEN":
                assert breaker.state == "OPEN"
            if before == "CLOSED":
                failures_in_a_row += 1
                assert (breaker.state == "OPEN") == (failures_in_a_row >= threshold)
        if breaker.state != "HALF_OPEN":
            in_half_open = 0
        if breaker.state == "OPEN":
            failures_in_a_row = 0
        status = breaker.get_status()
        assert status["failure_count"] >= 0 and math.isfinite(status["timeout_seconds"])
    json.dumps(breaker.get_status())


@st.composite
def exports_of_any_shape(draw: st.DrawFn) -> tuple[bytes, int]:
    """Entries laid out as people save them: lines, arrays (behind a byte-order mark or not),
    arrays of arrays, saved responses, one after another; and how many entries it holds."""
    groups = draw(st.lists(st.lists(log_entries(), min_size=1, max_size=6), min_size=1, max_size=4))
    parts = []
    for group in groups:
        layout = draw(st.sampled_from(["lines", "array", "nested", "response"]))
        if layout == "lines":
            parts.append("".join(json.dumps(e) + "\n" for e in group))
        elif layout == "array":
            parts.append(json.dumps(group, indent=draw(st.sampled_from([None, 2]))) + "\n")
        elif layout == "nested":
            parts.append(json.dumps([group[:1], group[1:]]) + "\n")
        else:
            parts.append(json.dumps({"entries": group, "nextPageToken": "t"}) + "\n")
    bom = b"\xef\xbb\xbf" if draw(st.booleans()) else b""
    return bom + "".join(parts).encode(), sum(len(g) for g in groups)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(export=exports_of_any_shape())
def test_entries_of_any_shape_are_accounted_for(
    tmp_path_factory: pytest.TempPathFactory, export: tuple[bytes, int]
) -> None:
    data, entries = export
    folder = tmp_path_factory.mktemp("shapes")
    path = folder / "export.json"
    path.write_bytes(data)
    result = import_paths([path], env="staging", store=Store(folder / "lake"))
    assert result.read == entries
    assert result.stored + result.duplicates + result.skipped + result.quarantined == result.read
    assert "not a Cloud Logging entry" not in result.quarantine_reasons
