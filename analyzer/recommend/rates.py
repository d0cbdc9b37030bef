"""Predicted timeout rates of a saved run's evidence under any values (for `export --diff`)."""

from __future__ import annotations

from analyzer.analysis.attempts import load_attempt_groups, pool_services
from analyzer.analysis.estimate import estimate_durations
from analyzer.engine import Engine
from analyzer.recommend.model import Recommendation
from analyzer.recommend.timeouts import attempt_weights

Key = tuple[int, str, str]


# (service or None for the env default's, key, seconds)
RateKey = tuple[str | None, Key, float]


def timeout_rates(
    engine: Engine, run: Recommendation, values: dict[str | None, dict[Key, set[float]]]
) -> dict[RateKey, float | None]:
    """For each service (None: the env's attempts, every service pooled), key and value: the
    share of the run's window's attempts predicted to time out under it, from that service's
    own attempts (None where they are too few for an estimate, as for a row pooled with the
    others). `unknown` is read off the state whose numbers it takes."""
    _, end, groups = load_attempt_groups(
        engine,
        run.env,
        since=run.window.start.isoformat(),
        until=run.window.end.isoformat(),
    )
    rates: dict[RateKey, float | None] = {}
    for service, keyed in values.items():
        chosen = pool_services(groups) if service is None else groups
        by_key = {g.key: g for g in chosen if g.service == service}
        rows = run.rows_of(service)
        derived = {(t.phase, t.operation, t.vpc_state): t.derived_from for t in rows}
        for key, seconds in keyed.items():
            source = derived.get(key)
            group = by_key.get((key[0], key[1], source) if source else key)
            estimate = (
                estimate_durations(
                    group.duration_s,
                    group.observed,
                    attempt_weights(group.started_s, end, run.policy.half_life_days),
                    min_attempts=run.policy.min_attempts,
                    counts=group.counts,
                )
                if group is not None
                else None
            )
            for value in seconds:
                rates[(service, key, value)] = estimate.survival_at(value) if estimate else None
    return rates
