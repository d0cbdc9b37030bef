"""One `recommend` run as the CLI and notebooks make it: what it overrides of the env's standing
window and policy, what it carries over from, and whether it is saved (and so can ship)."""

from __future__ import annotations

from typing import Any

from analyzer.engine import Engine
from analyzer.errors import AnalyzerError
from analyzer.lake.store import Store
from analyzer.recommend.history import append_recommendation, load_history, previous_values
from analyzer.recommend.model import Policy, Recommendation, make_policy
from analyzer.recommend.timeouts import DEFAULT_SINCE, recommend
from analyzer.timewindow import parse_span


def overrides_of(
    *, since: str, until: str | None, policy: Policy, half_life: str | None = None
) -> dict[str, str]:
    """The settings of a run that differ from the env's standing ones (window and policy)."""
    found: dict[str, str] = {}
    try:
        standing_window = parse_span(since) == parse_span(DEFAULT_SINCE)
    except Exception:  # an instant, not a span
        standing_window = False
    if not standing_window:
        found["since"] = since
    if until:
        found["until"] = until
    standing = Policy().model_dump()
    for name, value in policy.model_dump().items():
        if value != standing[name]:
            found[name] = half_life if name == "half_life_days" and half_life else f"{value:g}"
    return found


def run_recommendation(
    *,
    engine: Engine,
    store: Store,
    env: str,
    since: str = DEFAULT_SINCE,
    until: str | None = None,
    half_life: str | None = None,
    previous_file: str | None = None,
    save: bool | None = None,
    policy: dict[str, Any] | None = None,
) -> tuple[Recommendation, bool]:
    """Recommend, carrying over from `previous_file` (a deployed config) or else the latest
    saved run; save the run when `save`, or (None) when it overrides nothing. Returns the run
    and whether it was saved."""
    half_life_days = parse_span(half_life).total_seconds() / 86400 if half_life else None
    chosen = make_policy(half_life_days=half_life_days, **(policy or {}))
    overrides = overrides_of(since=since, until=until, policy=chosen, half_life=half_life)
    if previous_file:
        from pathlib import Path

        from analyzer.deploy.diff import timeout_values
        from analyzer.deploy.model import check_config_file

        deployed = check_config_file(Path(previous_file))
        if deployed.env.lower() != env.lower():
            raise AnalyzerError(
                f"{previous_file}: a config for env {deployed.env!r}, not {env!r}; give the "
                f"config deployed for {env}"
            )
        previous = timeout_values(deployed)
        previous_from: str | None = f"file {previous_file}"
    else:
        runs = load_history(store, env)
        previous = previous_values(runs[-1]) if runs else {}
        previous_from = f"run {runs[-1].run_id}" if runs else None
    rec = recommend(
        engine=engine,
        env=env,
        since=since,
        until=until,
        policy=chosen,
        previous=previous,
        previous_from=previous_from,
        overrides=overrides,
    )
    saved = (not overrides) if save is None else save
    if saved:
        append_recommendation(store, rec)
    return rec, saved
