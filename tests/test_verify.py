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


def _rot_record(store: Store, keep: int = 0) -> list[Path]:
    """One hex digit changed on each line of the checksum record but the first `keep`; the
    segments those lines name."""
    lines = store.checksums_path.read_text().splitlines(keepends=True)
    for n in range(keep, len(lines)):
        digit = lines[n][0]
        lines[n] = ("0" if digit != "0" else "1") + lines[n][1:]
    store.checksums_path.write_text("".join(lines))
    return [store.root / line.rstrip("\n").partition("  ")[2] for line in lines[keep:]]


def test_a_rotten_checksum_record_is_the_suspect_and_fix_moves_nothing(small_runs: Store) -> None:
    """Once every segment went to damaged/ and the env read "no telemetry"."""
    store = small_runs
    before = store.segments("events")
    _rot_record(store)
    checked = _run(store, "verify")
    assert checked.exit_code == 1
    assert "8 suspect (only their checksum differs)" in checked.output
    assert "the checksum record condemns every segment it names" in checked.output
    assert "damaged" not in checked.output.replace("0 damaged", "")
    fixed = _run(store, "verify", "--fix")
    assert fixed.exit_code == 1 and "not moved" in fixed.output
    assert store.segments("events") == before and not (store.root / "damaged").exists()
    assert _run(store, "summary", "--env", "staging").exit_code == 0
    ((rows,),) = read_view(store, "events", "count(*)")
    assert rows == 160


def test_fix_moves_a_checksum_suspect_or_most_of_the_lake_only_with_yes(small_runs: Store) -> None:
    store = small_runs
    segments = store.segments("events")
    # One record line rotted, its segment whole.
    (suspect,) = _rot_record(store, keep=len(segments) - 1)
    kept = _run(store, "verify", "--fix")
    assert kept.exit_code == 1
    assert f"suspect {store.segment_key(suspect)}: its bytes differ" in kept.output
    assert suspect.exists()
    assert _run(store, "verify", "--fix", "--yes").exit_code == 0 and not suspect.exists()

    rest = store.segments("events")
    for segment in rest[:4]:  # 4 of 7 truncated: more than half
        _damage(segment, "truncated")
    refused = _run(store, "verify", "--fix")
    assert refused.exit_code == 1 and "would move 4 of the 7 segments" in refused.output
    assert store.segments("events") == rest
    assert _run(store, "verify", "--fix", "--yes").exit_code == 0
    assert store.segments("events") == rest[4:]
    assert _run(store, "verify").exit_code == 0
