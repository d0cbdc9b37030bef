"""Per-service recommendations on fleets drawn from known laws: every service's true timeout
rate under the timeout it would use, sparse services pooled, sparse slow ones not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from analyzer.analysis.attempts import AttemptGroup
from analyzer.recommend.model import PhaseTimeout, Recommendation
from analyzer.recommend.policy import Policy
from analyzer.recommend.timeouts import recommendation_of
from analyzer.simulate_fleet import KNOWN_SERVICES, FleetService
from analyzer.timewindow import Window
from tests.fleet_draws import START, STATES, draw_fleet

POLICY = Policy()
# A service started rarely: a tenth of the rate, phase 3 between auth's and backend's.
FLEET = {**KNOWN_SERVICES, "batch": FleetService("batch", phase3_scale=0.8, rate_scale=0.1)}


def _groups(frame: pl.DataFrame) -> list[AttemptGroup]:
    """Phase 3's attempts per service and state, as `load_attempt_groups` cuts them."""
    groups = []
    phase3 = frame.filter(pl.col("phase") == 3).sort("service", "vpc_state", "started_s")
    for (service, state), part in phase3.group_by("service", "vpc_state", maintain_order=True):
        started = START.timestamp() + part["started_s"].to_numpy()
        duration = part["duration_s"].to_numpy()
        groups.append(
            AttemptGroup(
                phase=3,
                operation="initialization",
                vpc_state=str(state),
                started_s=started,
                ended_s=started + duration,
                duration_s=duration,
                observed=part["observed"].to_numpy(),
                timeout_s=np.full(duration.size, np.nan),
                service=str(service),
            )
        )
    return groups


def _recommend(groups: list[AttemptGroup], days: float) -> Recommendation:
    window = Window(start=START, end=START + timedelta(days=days))
    return recommendation_of(groups, env="staging", window=window, policy=POLICY, previous={})


def _rows(rec: Recommendation, service: str | None) -> dict[str, PhaseTimeout]:
    return {
        t.vpc_state: t
        for t in rec.rows_of(service)
        if (t.phase, t.operation) == (3, "initialization") and t.vpc_state in STATES
    }


def _true_rate(service: str, state: str, timeout_s: float | None) -> float:
    assert timeout_s is not None
    return FLEET[service].laws()[state].survival(timeout_s)


@dataclass
class Sweep:
    """Seeds in which every state of a service met the target, and how its rows came about."""

    seeds: int = 0
    met: dict[str, int] | None = None
    met_by_env_row: dict[str, int] | None = None
    pooled: int = 0
    pooled_within_target: int = 0  # pooled rows whose true rate meets the target
    own_slower: int = 0
    compared: int = 0


def _sweep(services: tuple[str, ...], days: float, seeds: range) -> Sweep:
    found = Sweep(met=dict.fromkeys(services, 0), met_by_env_row=dict.fromkeys(services, 0))
    assert found.met is not None and found.met_by_env_row is not None
    for seed in seeds:
        groups = _groups(
            draw_fleet(seed, days=days, services=services, known=FLEET, startups_per_day=40)
        )
        rec = _recommend(groups, days)
        env_rows = _rows(rec, None)
        found.seeds += 1
        for service in services:
            rows = _rows(rec, service)
            rates = [_true_rate(service, s, rows[s].timeout_s) for s in STATES]
            found.met[service] += max(rates) <= POLICY.target_rate  # type: ignore[operator]
            pooled_rates = [_true_rate(service, s, env_rows[s].timeout_s) for s in STATES]
            found.met_by_env_row[service] += max(pooled_rates) <= POLICY.target_rate  # type: ignore[operator]
            found.pooled += sum(r.pooled for r in rows.values())
            found.pooled_within_target += sum(
                r.pooled and _true_rate(service, s, r.timeout_s) <= POLICY.target_rate  # type: ignore[operator]
                for s, r in rows.items()
            )
            found.own_slower += sum(
                any(
                    (w.kind, w.service, w.vpc_state) == ("slower-than-pool", service, s)
                    for w in rec.warnings
                )
                for s, r in rows.items()
            )
            # Where its own data suffice, a service's numbers are those of an env holding
            # only that service: nothing borrowed, nothing lost.
            if seed % 3 == 0:
                alone = _rows(_recommend([g for g in groups if g.service == service], days), None)
                for state, row in rows.items():
                    # (a key under --min-attempts has no number of its own, only a bound)
                    if alone[state].source != "recommended" or alone[state].own_bound_s:
                        continue
                    found.compared += 1
                    assert not row.pooled and row.source == "recommended"
                    assert row.timeout_s == alone[state].timeout_s, (seed, service, state)
                    assert row.quantiles_s == alone[state].quantiles_s
    return found


@pytest.mark.slow
def test_a_sparse_slower_service_gets_its_own_timeouts() -> None:
    """The outside review's fleet: billing's phase 3 1.7x backend's at half its rate, a week
    at 40 startups a day. The env's pooled rows fail billing in some seeds (in most before a
    thin env state was raised by its own attempts, not left at the default); its own rows
    meet the target in at least 90 % of seeds, as backend's do."""
    found = _sweep(("backend", "billing"), days=7, seeds=range(30))
    assert found.met is not None and found.met_by_env_row is not None
    assert found.met_by_env_row["billing"] < found.seeds, found
    for service in ("backend", "billing"):
        assert found.met[service] >= 0.9 * found.seeds, (service, found)
    assert found.compared >= 20 and found.own_slower > 0, found


@pytest.mark.slow
def test_a_sparse_service_borrows_the_pool_widened() -> None:
    """Three services of different speeds and a rarely started fourth (a tenth of the rate,
    phase 3 0.8x backend's): the sparse one borrows the env's timeouts, widened by the
    services' spread, and every service meets the target in 90 % of seeds; the pooled rows
    themselves, judged by the sparse service's own law, meet it in 95 % of state-seeds."""
    services = ("backend", "auth", "billing", "batch")
    found = _sweep(services, days=14, seeds=range(20))
    assert found.met is not None
    for service in services:
        assert found.met[service] >= 0.9 * found.seeds, (service, found)
    assert found.pooled >= found.seeds, found  # the pooled path is taken, not only the ceiling
    assert found.pooled_within_target >= 0.95 * found.pooled, found


@pytest.mark.parametrize("services", [("backend",), ("backend", "auth")])
def test_the_env_rows_are_the_services_pooled(services: tuple[str, ...]) -> None:
    """The env-wide rows are what grouping without services gives; with one service its own
    rows, which are copied from them, are what estimating its own attempts gives (forced
    here by a previous value of its own, in a phase the data do not hold)."""
    groups = _groups(draw_fleet(1, days=7, services=services, startups_per_day=40))
    rec = _recommend(groups, 7)
    assert rec.services == sorted(services)
    env_rows = _rows(rec, None)
    assert sum(r.attempts for r in env_rows.values()) == sum(g.size for g in groups)
    if len(services) == 1:
        copied = {s: r.model_dump() for s, r in _rows(rec, services[0]).items()}
        assert copied == {
            s: {**r.model_dump(), "service": services[0]} for s, r in env_rows.items()
        }
        window = Window(start=START, end=START + timedelta(days=7))
        estimated = recommendation_of(
            groups,
            env="staging",
            window=window,
            policy=POLICY,
            previous={(services[0], 9, "initialization", "healthy"): 10.0},
        )
        own = {s: r.model_dump() for s, r in _rows(estimated, services[0]).items()}
        assert own == copied


def test_the_spread_is_the_between_service_deviation() -> None:
    """Eight services whose log medians differ with a known standard deviation tau (0 and
    0.4), 150 attempts in each of two states, a sixth of them cut at twice the median: the
    DerSimonian-Laird estimate over seeds centres on tau (it is biased low at eight
    services, so its mean is checked loosely) and is near zero when they do not differ."""
    from analyzer.recommend.pooling import service_spread

    def spread(tau: float, seed: int) -> float | None:
        rng = np.random.default_rng(seed)
        groups = []
        for i, shift in enumerate(rng.normal(0.0, tau, 8)):
            for state, median in (("healthy", 6.0), ("pressure", 28.0)):
                duration = np.exp(np.log(median) + shift + 0.35 * rng.standard_normal(150))
                cut = rng.uniform(size=150) < 1 / 6
                duration = np.where(cut, np.minimum(duration, 2 * median), duration)
                groups.append(
                    AttemptGroup(
                        phase=3,
                        operation="initialization",
                        vpc_state=state,
                        started_s=np.zeros(150),
                        ended_s=duration,
                        duration_s=duration,
                        observed=~cut | (duration < 2 * median),
                        timeout_s=np.full(150, np.nan),
                        service=f"s{i}",
                    )
                )
        return service_spread(groups, lambda g: np.ones(g.size))[3, "initialization"]

    wide = [spread(0.4, seed) for seed in range(12)]
    same = [spread(0.0, seed) for seed in range(12)]
    assert all(t is not None for t in wide + same)
    assert 0.28 < float(np.mean(wide)) < 0.5, wide  # type: ignore[arg-type]
    assert float(np.mean(same)) < 0.05, same  # type: ignore[arg-type]
