"""`analyze export`: a saved recommendation as the config file deployments ship."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from analyzer.deploy.model import (
    ConfigBreaker,
    ConfigProvenance,
    ConfigSection,
    ConfigTimeout,
    TimeoutConfig,
    render_config,
)
from analyzer.errors import AnalyzerError, TooManyServices
from analyzer.recommend.model import (
    BOTH_MODES_SETTINGS,
    RATE_SETTINGS,
    Breaker,
    PhaseTimeout,
    Recommendation,
)
from analyzer.runtime.schema import (
    MAX_SERVICES,
    OPERATIONS,
    SCHEMA_VERSION,
    VPC_STATES,
    service_name_problem,
)


def _instant(value: object) -> str:
    return f"{value:%Y-%m-%dT%H:%M:%S.%fZ}"


def _entries(rows: list[PhaseTimeout]) -> list[ConfigTimeout]:
    return [
        ConfigTimeout.model_validate(
            {
                "phase": t.phase,
                "operation": t.operation,
                "vpc_state": t.vpc_state,
                "timeout_s": float(t.timeout_s or 0.0),
                "source": t.source,
                **({"derived_from": t.derived_from} if t.derived_from else {}),
            }
        )
        for t in rows
    ]


def _attempts(rows: list[PhaseTimeout]) -> dict[str, int]:
    return {f"{t.phase}/{t.operation}/{t.vpc_state}": t.attempts for t in rows}


def unfit_sections(rec: Recommendation) -> dict[str, str]:
    """The run's services whose names cannot have a config section (not a Cloud Run service
    name), each with why."""
    names = dict.fromkeys(t.service for t in rec.timeouts if t.service is not None)
    return {name: problem for name in names if (problem := service_name_problem(name))}


def _sections(
    rec: Recommendation,
    rows: list[PhaseTimeout],
    services: Iterable[str] | None,
    leave_out_unfit: bool,
) -> dict[str, list[PhaseTimeout]]:
    """The rows of each service's section: every service of the run, or the ones named; a
    name that cannot have one is an error, or left out (`leave_out_unfit`)."""
    by_service: dict[str, list[PhaseTimeout]] = {}
    for t in rows:
        if t.service is not None:
            by_service.setdefault(t.service, []).append(t)
    chosen = by_service if services is None else _named(rec, by_service, services)
    if leave_out_unfit:
        unfit = unfit_sections(rec)
        chosen = {name: own for name, own in chosen.items() if name not in unfit}
    if len(chosen) > MAX_SERVICES:
        what = f"run {rec.run_id or '(unsaved)'} has" if services is None else "named"
        raise TooManyServices(what, len(chosen), MAX_SERVICES)
    for name in chosen:
        problem = service_name_problem(name)
        if problem:
            raise AnalyzerError(
                f"service {name!r} cannot have a config section: {problem}; "
                "name the others with --service"
            )
    return chosen


def _named(
    rec: Recommendation, by_service: dict[str, list[PhaseTimeout]], services: Iterable[str]
) -> dict[str, list[PhaseTimeout]]:
    wanted = list(dict.fromkeys(services))
    missing = [name for name in wanted if name not in by_service]
    if missing:
        known = ", ".join(sorted(by_service)) or "none: recommend again to get per-service rows"
        raise AnalyzerError(
            f"run {rec.run_id or '(unsaved)'} has no timeouts for service {missing[0]!r} "
            f"(its services: {known})"
        )
    return {name: by_service[name] for name in wanted}


def breaker_block(breaker: Breaker) -> dict[str, object]:
    """The config's breaker block: the three settings of the consecutive mode, the OPEN and
    HALF_OPEN limits both modes use, and for a rate mode recommendation its settings (one left
    as None is left out: the runtime's default, or for `slow_call_s` the call's own timeout)."""
    block: dict[str, object] = {
        "failure_threshold": breaker.failure_threshold,
        "recovery_timeout_s": breaker.recovery_timeout_s,
        "half_open_max_calls": breaker.half_open_max_calls,
    }
    names: tuple[str, ...] = BOTH_MODES_SETTINGS
    if breaker.mode == "rate":
        block["mode"] = "rate"
        names = RATE_SETTINGS + BOTH_MODES_SETTINGS
    block.update((name, value) for name in names if (value := getattr(breaker, name)) is not None)
    return block


def config_from_recommendation(
    rec: Recommendation, services: Iterable[str] | None = None, *, leave_out_unfit: bool = False
) -> TimeoutConfig:
    """The config of a run: every key with a value (carried-over ones marked with their
    source) as the env default (rows of no service) and one section per service (all of the
    run's, or those `services` names; with `leave_out_unfit`, less those `unfit_sections`
    names, which run the default), the breaker, and the run's provenance in one block."""
    rows = [
        t
        for t in rec.timeouts
        if t.timeout_s is not None and t.vpc_state in VPC_STATES and t.operation in OPERATIONS
    ]
    default = [t for t in rows if t.service is None]
    if not default:
        raise AnalyzerError(
            f"the recommendation for env {rec.env!r} has no timeout a config can carry; "
            "collect more attempts or lower --min-attempts"
        )
    sections = _sections(rec, rows, services, leave_out_unfit)
    return TimeoutConfig(
        schema_version=SCHEMA_VERSION,
        env=rec.env,
        timeouts=_entries(default),
        **(
            {"services": {n: ConfigSection(timeouts=_entries(own)) for n, own in sections.items()}}
            if sections
            else {}
        ),
        breaker=ConfigBreaker.model_validate(breaker_block(rec.breaker)),
        provenance=ConfigProvenance.model_validate(
            {
                **({"run_id": rec.run_id} if rec.run_id else {}),
                "generated_at": _instant(rec.generated_at),
                "window_start": _instant(rec.window.start),
                "window_end": _instant(rec.window.end),
                "overrides": dict(rec.overrides),
                "attempts": _attempts(default),
                **(
                    {"service_attempts": {n: _attempts(own) for n, own in sections.items()}}
                    if sections
                    else {}
                ),
            }
        ),
    )


def keep_hand_set_blocks(
    config: TimeoutConfig, deployed: TimeoutConfig
) -> tuple[TimeoutConfig, list[str]]:
    """The new config with the deployed one's blocks that no run recommends, as a team set them
    (`vpc`: the VPC monitor's connector and thresholds; `pool`), and their names."""
    kept = {name: getattr(deployed, name) for name in ("vpc", "pool")}
    kept = {name: block for name, block in kept.items() if block is not None}
    return config.model_copy(update=kept), sorted(kept)


def write_config(config: TimeoutConfig, out: Path, fmt: str = "json") -> Path:
    """Write the config to `out` atomically (temporary name, then rename)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.tmp")
    try:
        temporary.write_text(render_config(config, fmt), encoding="utf-8")
        os.replace(temporary, out)
    except OSError as exc:
        raise AnalyzerError(f"{out}: cannot write ({exc.strerror or exc})") from exc
    return out
