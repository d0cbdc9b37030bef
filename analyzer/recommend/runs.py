"""One `recommend` run as the CLI and notebooks make it: what it overrides of the env's standing
window and policy, what it carries over from, and whether it is saved (and so can ship)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from analyzer.engine import Engine
from analyzer.errors import AnalyzerError
from analyzer.lake.store import Store
from analyzer.recommend.carryover import ServiceKey
from analyzer.recommend.history import (
    append_recommendation,
    load_history,
    previous_values,
    writable_history,
)
from analyzer.recommend.model import Recommendation
from analyzer.recommend.policy import Policy, make_policy
from analyzer.recommend.timeouts import DEFAULT_SINCE, recommend
from analyzer.timewindow import check_window, parse_span

# Command-line names of policy settings whose Policy field is named otherwise.
_POLICY_FIELDS = {"max_false_trips": "max_false_trips_per_week"}


def policy_of(half_life: str | None, settings: dict[str, Any]) -> Policy:
    """The policy from the command line's settings (None: the default). --target-rate, or
    --target-quantile/--margin, not both; either of the latter alone switches to the quantile
    rule."""
    half_life_days = parse_span(half_life).total_seconds() / 86400 if half_life else None
    named = {_POLICY_FIELDS.get(k, k): v for k, v in settings.items()}
    policy = make_policy(half_life_days=half_life_days, **named)
    quantile_rule = (
        settings.get("target_quantile") is not None or settings.get("margin") is not None
    )
    if quantile_rule and settings.get("target_rate") is not None:
        raise AnalyzerError(
            "--target-rate and --target-quantile/--margin are two policies: give one",
            exit_code=2,
        )
    return policy.model_copy(update={"target_rate": None}) if quantile_rule else policy


def _shown(value: object) -> str:
    """A setting as the history shows it: numbers as written, no rule as `none`."""
    if value is None:
        return "none"
    if isinstance(value, float | int) and not isinstance(value, bool):
        return f"{value:g}"
    return str(value)


def _same_window_start(a: str, b: str) -> bool:
    try:
        return parse_span(a) == parse_span(b)
    except AnalyzerError:  # an instant, not a span
        return a.strip() == b.strip()


def overrides_of(
    *,
    since: str,
    until: str | None,
    half_life: str | None,
    policy: dict[str, Any],
    standing: dict[str, Any] | None = None,
) -> dict[str, str]:
    """The settings of a run that differ from the env's standing ones: `standing` holds what
    a run with no option given would use (the project file's per-env values; else the
    defaults)."""
    base = standing or {}
    found: dict[str, str] = {}
    if not _same_window_start(since, base.get("since") or DEFAULT_SINCE):
        found["since"] = since
    if (until or None) != (base.get("until") or None):
        found["until"] = str(until)
    chosen = policy_of(half_life, policy).model_dump()
    usual = policy_of(
        base.get("half_life"), {k: base.get(k) for k in policy if base.get(k) is not None}
    ).model_dump()
    for name, value in chosen.items():
        if value != usual[name]:
            found[name] = half_life if name == "half_life_days" and half_life else _shown(value)
    return found


def config_values(path: str, env: str) -> dict[ServiceKey, float]:
    """A deployed config's timeouts by service (None: its env default section) and key, as the
    services ran with them; the file must be `env`'s."""
    from analyzer.deploy.diff import own_values, timeout_values
    from analyzer.deploy.model import check_config_file

    deployed = check_config_file(Path(path))
    if deployed.env.lower() != env.lower():
        raise AnalyzerError(
            f"{path}: a config for env {deployed.env!r}, not {env!r}; give the config deployed "
            f"for {env}"
        )
    values: dict[ServiceKey, float] = {
        (None, *key): value for key, value in timeout_values(deployed).items()
    }
    for name in deployed.services or {}:  # each service's section, as it ran
        values.update({(name, *k): v for k, v in own_values(deployed, name).items()})
    return values


def carried_from(
    store: Store, env: str, previous_file: str | None, deployed_file: str | None
) -> tuple[dict[ServiceKey, float], str | None]:
    """The values a run carries over where evidence is thin, and where they came from: the
    deployed config is the floor whether or not the store has history (a fresh store on a CI
    runner must not undo a value raised by hand); the latest saved run only until a config is
    deployed."""
    if previous_file:
        return config_values(previous_file, env), f"file {previous_file}"
    if deployed_file and os.path.lexists(deployed_file):  # a broken link is an error, not absent
        return config_values(deployed_file, env), f"deployed file {deployed_file}"
    runs = load_history(store, env)
    previous = previous_values(runs[-1]) if runs else {}
    found = f"run {runs[-1].run_id}" if runs else None
    if not deployed_file:
        return previous, found
    before = found or "built-in defaults only"
    return previous, f"{before} (nothing deployed at {deployed_file} yet)"


def run_recommendation(
    *,
    engine: Engine,
    store: Store,
    env: str,
    since: str = DEFAULT_SINCE,
    until: str | None = None,
    half_life: str | None = None,
    previous_file: str | None = None,
    deployed_file: str | None = None,
    save: bool | None = None,
    policy: dict[str, Any] | None = None,
    standing: dict[str, Any] | None = None,
    services: tuple[str, ...] = (),
) -> tuple[Recommendation, bool]:
    """Recommend, carrying over from `previous_file` (a deployed config), else `deployed_file`
    (the file the deployment ships) once it exists, else the latest saved run; save the run
    when `save`, or (None) when it overrides nothing. Returns the run and whether it was saved.
    `services`, the ones to be shown, must be the env's: the run (every service, and the
    env-wide rows) is saved only then."""
    check_window(since, until)  # before the history folder is made
    chosen = policy_of(half_life, policy or {})
    overrides = overrides_of(
        since=since, until=until, half_life=half_life, policy=policy or {}, standing=standing
    )
    previous, previous_from = carried_from(store, env, previous_file, deployed_file)
    saved = (not overrides) if save is None else save
    if saved:
        writable_history(store, env)  # before the work, not after it
    rec = recommend(
        engine=engine,
        env=env,
        since=since,
        until=until,
        policy=chosen,
        previous=previous,
        previous_from=previous_from,
        overrides=overrides,
        services=services,
    )
    rec.for_services(services)  # an unknown service is an error before anything is saved
    if saved:
        runs = load_history(store, env)
        if runs and same_recommendation(runs[-1], rec):
            return runs[-1], True  # already saved: a standing run repeated adds no history
        append_recommendation(store, rec)
    return rec, saved


def same_recommendation(a: Recommendation, b: Recommendation) -> bool:
    """The same window, policy and values to ship (every timeout and the breaker's settings):
    what the evidence and the carry-over said may be worded anew, the config would not move."""

    def shipped(r: Recommendation) -> object:
        return (
            r.window,
            r.policy,
            r.overrides,
            sorted(
                ((t.service or "", t.phase, t.operation, t.vpc_state), t.timeout_s)
                for t in r.timeouts
            ),
            r.breaker.model_dump(exclude={"evidence"}),
        )

    return shipped(a) == shipped(b)
