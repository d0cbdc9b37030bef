"""`analyze export`: a saved recommendation as the config file deployments ship."""

from __future__ import annotations

import os
from pathlib import Path

from analyzer.deploy.model import (
    ConfigBreaker,
    ConfigProvenance,
    ConfigTimeout,
    TimeoutConfig,
    render_config,
)
from analyzer.errors import AnalyzerError
from analyzer.recommend.model import Recommendation
from analyzer.runtime.schema import OPERATIONS, SCHEMA_VERSION, VPC_STATES


def _instant(value: object) -> str:
    return f"{value:%Y-%m-%dT%H:%M:%S.%fZ}"


def config_from_recommendation(rec: Recommendation) -> TimeoutConfig:
    """The config of a run: every key with a value (carried-over ones marked with their
    source), the breaker, and the run's provenance in one block."""
    rows = [
        t
        for t in rec.timeouts
        if t.timeout_s is not None and t.vpc_state in VPC_STATES and t.operation in OPERATIONS
    ]
    if not rows:
        raise AnalyzerError(
            f"the recommendation for env {rec.env!r} has no timeout a config can carry; "
            "collect more attempts or lower --min-attempts"
        )
    return TimeoutConfig(
        schema_version=SCHEMA_VERSION,
        env=rec.env,
        timeouts=[
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
        ],
        breaker=ConfigBreaker(
            failure_threshold=rec.breaker.failure_threshold,
            recovery_timeout_s=rec.breaker.recovery_timeout_s,
            half_open_max_calls=rec.breaker.half_open_max_calls,
        ),
        provenance=ConfigProvenance.model_validate(
            {
                **({"run_id": rec.run_id} if rec.run_id else {}),
                "generated_at": _instant(rec.generated_at),
                "window_start": _instant(rec.window.start),
                "window_end": _instant(rec.window.end),
                "overrides": dict(rec.overrides),
                "attempts": {f"{t.phase}/{t.operation}/{t.vpc_state}": t.attempts for t in rows},
            }
        ),
    )


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
