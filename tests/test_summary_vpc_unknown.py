"""`summary` shows each service's share of phase attempts in VPC state `unknown`: the sign that a
service has no VPC state wired (no provider, no monitor)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from analyzer.cli import main
from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from tests.conftest import entry, write_ndjson


def _startup(t: float, instance: str, service: str, state: str | None) -> list[dict[str, Any]]:
    started: dict[str, Any] = {"event": "phase_started", "phase": 3}
    if state is not None:
        started["vpc_state"] = state
    events = [
        {"event": "startup_started"},
        started,
        {"event": "phase_completed", "phase": 3, "duration_s": 4.0},
        {"event": "startup_completed"},
    ]
    return [
        entry(p, t=t + dt, instance=instance, service=service)
        for p, dt in zip(events, [0, 0, 4, 4], strict=True)
    ]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> str:
    """wired: 2 attempts with a state; unwired: 2 without (unknown); mixed: 1 of 4 unknown."""
    folder = tmp_path_factory.mktemp("vpc-unknown")
    states = {
        "wired": ["healthy", "pressure"],
        "unwired": [None, "unknown"],
        "mixed": ["healthy", "healthy", "scaling", None],
    }
    entries = [
        e
        for service, chosen in states.items()
        for i, state in enumerate(chosen)
        for e in _startup(100.0 * i, f"{service}-{i}", service, state)
    ]
    store = Store(folder / "lake")
    import_paths([write_ndjson(folder / "e.jsonl", entries)], env="staging", store=store)
    return str(store.root)


def test_each_services_unknown_share_in_json_and_table(lake: str) -> None:
    args = ["summary", "--env", "staging", "--store", lake]
    done = CliRunner().invoke(main, [*args, "--format", "json"])
    assert done.exit_code == 0, done.output
    shares = {s["service"]: s["vpc_unknown_share"] for s in json.loads(done.stdout)["services"]}
    assert shares == {"mixed": 0.25, "unwired": 1.0, "wired": 0.0}
    text = CliRunner().invoke(main, args).output
    unwired = text[text.index("service unwired:") :]
    assert "VPC state unknown in 100" in unwired.splitlines()[1]
    assert "no VPC state wired?" in unwired.splitlines()[1]
    wired = text[text.index("service wired:") :]
    assert "VPC state unknown in 0" in wired.splitlines()[1]
    assert "wired?" not in wired.splitlines()[1]


def test_no_attempts_no_share(tmp_path: Path) -> None:
    from analyzer.analysis.summary import _unknown_share

    assert _unknown_share([], "api") is None
