"""Damaged segments (empty, truncated, random bytes, bit rot): every command names the segment
and points to `analyze verify`; `verify --fix` moves it aside and the rest of the lake reads."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from analyzer.cli import main
from analyzer.lake.store import Store
from tests.conftest import entry, read_view, write_ndjson


def _run(store: Store, *args: str):
    return CliRunner().invoke(main, [*args, "--store", str(store.root)])


def _damage(segment: Path, how: str) -> None:
    data = segment.read_bytes()
    if how == "empty":
        segment.write_bytes(b"")
    elif how == "truncated":
        segment.write_bytes(data[: len(data) // 2])
    elif how == "random":
        segment.write_bytes(os.urandom(len(data)))
    else:  # bit rot: a few bytes flipped in the first column's data, the ends intact
        at = 64
        flipped = bytes(b ^ 0xFF for b in data[at : at + 4])
        segment.write_bytes(data[:at] + flipped + data[at + 4 :])


@pytest.mark.parametrize("how", ["empty", "truncated", "random"])
def test_a_broken_segment_is_named_by_every_command_and_moved_aside(
    tmp_path: Path, small_runs: Store, how: str
) -> None:
    store = small_runs
    victim = store.segments("events")[1]
    ((lost,),) = duckdb.sql(f"SELECT count(*) FROM read_parquet('{victim}')").fetchall()
    key = store.segment_key(victim)
    _damage(victim, how)
    more = write_ndjson(tmp_path / "more.jsonl", [entry({"event": "phase_started", "phase": 2})])
    for args in (
        ["summary", "--env", "staging"],
        ["recommend", "--env", "staging"],
        ["import", str(more), "--env", "staging"],
    ):
        result = _run(store, *args)
        assert result.exit_code == 1, (args, result.output)
        assert f"segment {key} of store" in result.output and "analyze verify" in result.output
        assert "internal error" not in result.output
    compacted = _run(store, "compact", "--env", "staging")
    assert compacted.exit_code == 1 and f"refused {key}: not a whole Parquet file" in (
        compacted.output
    )
    checked = _run(store, "verify")
    assert checked.exit_code == 1 and f"damaged {key}: not a whole Parquet file" in checked.output
    fixed = _run(store, "verify", "--fix")
    assert fixed.exit_code == 0 and "1 damaged, moved aside to" in fixed.output
    assert not victim.exists() and list((store.root / "damaged").rglob(victim.name))
    assert _run(store, "summary", "--env", "staging").exit_code == 0
    assert _run(store, "import", str(more), "--env", "staging").exit_code == 0
    assert _run(store, "verify").exit_code == 0
    ((rows, ids),) = read_view(store, "lake_rows", "count(*), count(DISTINCT insert_id)")
    assert rows == ids == 160 - lost + 1


def test_bit_rot_is_found_by_its_checksum(small_runs: Store) -> None:
    store = small_runs
    victim = max(store.segments("events"), key=lambda p: p.stat().st_size)
    key = store.segment_key(victim)
    assert len(store.checksums()) == len(store.segments("events"))
    _damage(victim, "rot")
    checked = _run(store, "verify")
    assert checked.exit_code == 1
    assert f"damaged {key}: its bytes differ from the checksum recorded" in checked.output
    assert "verified 8 segments (8 against their checksums): 1 damaged" in checked.output
    compacted = _run(store, "compact", "--env", "staging")
    assert compacted.exit_code == 1 and f"refused {key}: its bytes differ" in compacted.output
    assert victim.exists()
    assert _run(store, "verify", "--fix").exit_code == 0 and not victim.exists()
    assert _run(store, "verify").exit_code == 0
