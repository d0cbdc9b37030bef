"""The generator: deterministic, in every export shape, and its counts are what an import finds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from analyzer.engine.local import connect
from analyzer.ingest import import_paths
from analyzer.lake.store import Store
from analyzer.simulate import SimulationSpec, write_export

SPEC = dict(days=3, start=datetime(2026, 10, 5, tzinfo=UTC), seed=7)


@pytest.mark.parametrize("form", ["structured", "text"])
@pytest.mark.parametrize("name", ["export.json", "export.jsonl.gz", "sink"])
def test_import_reproduces_the_manifest(tmp_path: Path, store: Store, form: str, name: str) -> None:
    manifest = write_export(SimulationSpec(env="staging", form=form, **SPEC), tmp_path / name)  # type: ignore[arg-type]
    result = import_paths([tmp_path / name], env="staging", store=store)
    assert result.read == manifest.entries_written
    assert result.stored == manifest.telemetry_entries
    assert result.duplicates == manifest.duplicate_telemetry_entries
    assert (
        result.skipped
        == manifest.entries_written
        - manifest.telemetry_entries
        - manifest.duplicate_telemetry_entries
    )
    assert result.quarantined == 0
    con = connect(store)
    startups = dict(con.execute("SELECT outcome, count(*) FROM startups GROUP BY ALL").fetchall())
    assert startups == {
        "completed": manifest.startup_outcomes.get("completed", 0)
        + manifest.startup_outcomes.get("degraded", 0),
        "failed": manifest.startup_outcomes.get("failed", 0),
    }
    assert con.execute("SELECT count(*) FROM phase_attempts").fetchall() == [
        (manifest.phase_attempts,)
    ]
    phase3 = dict(
        con.execute(
            "SELECT outcome, count(*) FROM phase_attempts WHERE phase = 3 GROUP BY ALL"
        ).fetchall()
    )
    assert phase3 == manifest.phase3_outcomes
    assert con.execute("SELECT count(*) FROM vpc_states").fetchall() == [
        (manifest.vpc_state_changes,)
    ]


def test_bundled_sample_is_what_the_generator_makes(sample_manifests) -> None:
    from tests.conftest import SAMPLE, SAMPLE_SPECS

    for env, (name, _) in SAMPLE_SPECS.items():
        assert (SAMPLE / name).read_bytes() == sample_manifests[env].path.read_bytes(), (
            f"data/sample/{name} is stale: make it again as data/sample/README.md says"
        )


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    write_export(SimulationSpec(env="staging", **SPEC), tmp_path / "a.jsonl.gz")  # type: ignore[arg-type]
    write_export(SimulationSpec(env="staging", **SPEC), tmp_path / "b.jsonl.gz")  # type: ignore[arg-type]
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()


def test_bundled_sample_tells_the_seed_story(tmp_path: Path, store: Store) -> None:
    """Under pressure the static 20 s fails most of the seed's backend's phase-3 attempts; 75 s
    fails few. (The sample's auth service takes half as long: it fails fewer.)"""
    sample = Path(__file__).resolve().parent.parent / "data" / "sample" / "staging"
    import_paths([sample], env="staging", store=store)
    con = connect(store)
    rows = con.execute(
        "SELECT timeout_s, avg((outcome = 'timeout')::INT) FROM phase_attempts "
        "WHERE env = 'staging' AND phase = 3 AND vpc_state = 'pressure' "
        "AND service = 'netra-backend-staging' GROUP BY ALL ORDER BY 1"
    ).fetchall()
    (static, static_rate), (raised, raised_rate) = rows
    assert (static, raised) == (20.0, 75.0)
    assert static_rate > 0.6
    assert raised_rate < 0.05


def test_laws_agree_with_their_own_draws() -> None:
    """Each law's quantile inverts its survival function, and its numpy draws follow it."""
    import numpy as np

    from analyzer.simulate import DurationLaw, MixtureLaw, ShiftingLaw, WeibullLaw

    laws = [
        DurationLaw(16.0, 0.4),
        WeibullLaw(20.0, 1.5),
        MixtureLaw(DurationLaw(28.0, 0.35), DurationLaw(70.0, 0.4), 0.1),
    ]
    for law in laws:
        for q in (0.5, 0.9, 0.99, 0.995):
            assert law.survival(law.quantile(q)) == pytest.approx(1 - q, rel=1e-6)
        drawn = law.sample(np.random.default_rng(1), 200_000)
        for q in (0.5, 0.99):
            assert np.quantile(drawn, q) == pytest.approx(law.quantile(q), rel=0.03)
    shift = ShiftingLaw(laws[0], laws[1], at=0.5)
    assert shift.law_at(0.2) is laws[0] and shift.law_at(0.7) is laws[1]
    assert shift.quantile(0.99) == laws[1].quantile(0.99)


def test_laws_from_text_and_a_rate_per_day(tmp_path: Path) -> None:
    """`analyze simulate --law STATE=LAW --startups-per-day N`: each form parses to its law
    (a Weibull by its median), the export draws from them, and a law it cannot read is one
    clear line naming the forms."""
    import json
    import math

    from click.testing import CliRunner

    from analyzer.cli import main
    from analyzer.simulate import (
        DurationLaw,
        MixtureLaw,
        ShiftingLaw,
        WeibullLaw,
        parse_law,
    )

    weibull = parse_law("weibull(45, 1.5)")
    assert isinstance(weibull, WeibullLaw) and weibull.shape == 1.5
    assert math.isclose(weibull.median_s, 45.0)
    assert parse_law("mix(lognormal(28,0.35),weibull(90,3),0.1)") == MixtureLaw(
        DurationLaw(28.0, 0.35), WeibullLaw(90.0 / math.log(2) ** (1 / 3), 3.0), 0.1
    )
    assert parse_law("shift(lognormal(16,0.4),lognormal(24,0.4),0.67)") == ShiftingLaw(
        DurationLaw(16.0, 0.4), DurationLaw(24.0, 0.4), 0.67
    )
    out = tmp_path / "w.jsonl"
    args = ["simulate", "--env", "staging", "--days", "2", "--out", str(out)]
    done = CliRunner().invoke(
        main, [*args, "--startups-per-day", "240", "--law", "critical=weibull(45,1.5)"]
    )
    assert done.exit_code == 0, done.output
    assert 300 < json.loads(done.stdout)["startups"] < 700
    for bad in ("critical=weibull(45)", "critical=gamma(1,2)", "nowhere=lognormal(1,1)"):
        failed = CliRunner().invoke(main, [*args, "--law", bad])
        assert failed.exit_code == 1 and "Traceback" not in failed.output, failed.output
        assert len(failed.output.strip().splitlines()) == 1, failed.output
