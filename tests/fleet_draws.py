"""Fleets drawn with numpy from the generator's laws, straight into the columns of
`queries/revision_attempts.sql` and `queries/blame_attempts.sql`: seed sweeps in milliseconds
a seed, where writing and importing the logs would take seconds."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import numpy as np
import polars as pl

from analyzer.simulate import (
    FALLBACK_RATE,
    OTHER_PHASES,
    PHASE3_ERROR_RATE,
    PHASE3_LAWS,
    RAISED_TIMEOUT_S,
    STATE_MIX,
    STATIC_TIMEOUT_S,
)
from analyzer.simulate_fleet import KNOWN_SERVICES, ROLLOUT_HOURS, FleetService

START = datetime(2026, 10, 26, tzinfo=UTC)
STATES = list(PHASE3_LAWS)


def _timeline(rng: np.random.Generator, days: float) -> tuple[np.ndarray, np.ndarray]:
    """Change times (hours from the start) and the state from each on, as the generator draws
    them: a new draw every 30 to 90 minutes from the hour's mix."""
    times, states, at = [], [], 0.0
    while at < days * 24:
        mix = STATE_MIX["peak" if 13 <= int(at) % 24 <= 21 else "off_peak"]
        times.append(at)
        states.append(rng.choice(len(STATES), p=[mix[s] for s in STATES]))
        at += rng.uniform(0.5, 1.5)
    return np.asarray(times), np.asarray(states)


def _deploys(rng: np.random.Generator, days: float, every: float) -> np.ndarray:
    """Deploy times in hours (the first revision before the window)."""
    times = [-24.0]
    at = every * rng.uniform(0.5, 1.0)
    while at < days:
        times.append(at * 24)
        at += every * rng.uniform(0.75, 1.25)
    return np.asarray(times)


def draw_fleet(
    seed: int,
    *,
    days: float = 7,
    startups_per_day: float = 40,
    services: tuple[str, ...] = ("backend", "auth"),
    deploy_every_days: float = 3.0,
    deploy_days: tuple[float, ...] | None = None,
    regression: tuple[str, float] | None = None,
    known: Mapping[str, FleetService] = KNOWN_SERVICES,
) -> pl.DataFrame:
    """One phase attempt a row: service, revision, first_seen, phase, operation, vpc_state,
    duration_s, observed, startup_id, started_s. Deploys as the generator schedules them, or
    at `deploy_days` (days from the start); the regression goes in the newest revision."""
    rng = np.random.default_rng(seed)
    change_h, change_state = _timeline(rng, days)
    frames = []
    for name in services:
        service = known[name]
        n = rng.poisson(startups_per_day * days * service.rate_scale)
        t_h = np.sort(rng.uniform(0, days * 24, n))
        state = change_state[np.searchsorted(change_h, t_h, side="right") - 1]
        deploys = (
            _deploys(rng, days, deploy_every_days)
            if deploy_days is None
            else np.asarray([-24.0, *(24 * d for d in deploy_days)])
        )
        index = np.searchsorted(deploys, t_h, side="right") - 1
        rollout = (t_h - deploys[index]) / ROLLOUT_HOURS
        index = np.where((index > 0) & (rng.uniform(size=n) >= rollout), index - 1, index)
        factor = np.ones(n)
        if regression and regression[0] == name:
            factor[index == deploys.size - 1] = regression[1]
        median = np.array([PHASE3_LAWS[s].median_s for s in STATES])[state]
        sigma = np.array([PHASE3_LAWS[s].sigma for s in STATES])[state]
        median = median * service.phase3_scale * factor
        d3 = np.exp(np.log(median) + sigma * rng.standard_normal(n))
        timeout = np.where(t_h < days * 12, STATIC_TIMEOUT_S, RAISED_TIMEOUT_S)
        error_at = np.where(
            rng.uniform(size=n) < np.array([PHASE3_ERROR_RATE[s] for s in STATES])[state],
            rng.uniform(0, 2 * median),
            np.inf,
        )
        d3_seen = np.minimum.reduce([d3, timeout, error_at])
        ok3 = d3 <= np.minimum(timeout, error_at)
        goes_on = ok3 | (rng.uniform(size=n) < FALLBACK_RATE)
        revision = np.array([f"{name}-{i:05d}" for i in range(deploys.size)])[index]
        first_seen = np.datetime64(START.replace(tzinfo=None), "us") + (deploys * 3600e6).astype(
            "timedelta64[us]"
        )
        for phase in range(1, 6):
            keep = goes_on if phase > 3 else np.ones(n, dtype=bool)
            if phase == 3:
                duration, observed = d3_seen, ok3
            else:
                law = OTHER_PHASES[phase][1]
                duration = np.exp(np.log(law.median_s) + law.sigma * rng.standard_normal(n))
                observed = np.ones(n, dtype=bool)
            frames.append(
                pl.DataFrame(
                    {
                        "service": np.full(keep.sum(), name),
                        "revision": revision[keep],
                        "first_seen": first_seen[index[keep]],
                        "phase": np.full(keep.sum(), phase, dtype=np.int32),
                        "operation": np.full(keep.sum(), "initialization"),
                        "vpc_state": np.array(STATES)[state[keep]],
                        "duration_s": duration[keep],
                        "observed": observed[keep],
                        "startup_id": np.flatnonzero(keep),
                        "started_s": t_h[keep] * 3600,
                    }
                )
            )
    return pl.concat(frames)
