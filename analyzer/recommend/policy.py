"""The policy: how numbers become recommendations, and its one set of rules (the project
file's `policy` tables are checked by it too, without loading the recommendation's models)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from analyzer.errors import AnalyzerError
from analyzer.runtime.schema import MAX_TIMEOUT_S, MIN_TIMEOUT_S


class Policy(BaseModel):
    """How numbers become recommendations. Every field has a sensible default."""

    # inf and nan are never a policy, and JSON cannot hold them: a saved run must read back
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    target_rate: float | None = Field(
        0.005,
        gt=0,
        lt=1,
        description="At most this share of attempts may time out in each state, at the upper "
        "confidence bound; None: the quantile-and-margin rule below.",
    )
    target_quantile: float = Field(0.99, gt=0, lt=1, description="Quantile a timeout must cover.")
    margin: float = Field(0.2, ge=0, le=10, description="Headroom over the target quantile.")
    floor_s: float = Field(
        5.0,
        ge=MIN_TIMEOUT_S,
        description="Smallest timeout recommended (at least the shortest a config may set).",
    )
    ceiling_s: float = Field(
        240.0, gt=0, le=MAX_TIMEOUT_S, description="Largest (Cloud Run's startup limit)."
    )
    step_s: float = Field(1.0, gt=0, description="Timeouts are rounded up to a multiple of this.")
    min_attempts: int = Field(20, ge=1, description="Fewer attempts: no number, say so.")
    few_attempts: int = Field(
        200, ge=1, description="Fewer (effective) attempts: use the upper confidence bound."
    )
    confidence: float = Field(0.95, gt=0, lt=1, description="Level of confidence intervals.")
    joint: bool = Field(
        False,
        description="Make the intervals of a phase's VPC states hold jointly (Sidak: each at "
        "confidence ** (1 / states)).",
    )
    half_life_days: float | None = Field(
        None, gt=0, description="Weight of an attempt halves every this many days of age."
    )
    breaker_phase: int = Field(3, ge=1, description="Phase whose dependency the breaker guards.")
    max_false_trips_per_week: float = Field(1.0, gt=0)
    half_open_max_calls: int = Field(1, ge=1)

    @property
    def tolerated_rate(self) -> float:
        """The share of attempts the policy lets time out: the target rate, else 1 - quantile."""
        return self.target_rate if self.target_rate is not None else 1.0 - self.target_quantile

    @model_validator(mode="after")
    def _floor_below_ceiling(self) -> Policy:
        if self.floor_s > self.ceiling_s:
            raise ValueError(f"floor_s ({self.floor_s}) is above ceiling_s ({self.ceiling_s})")
        return self


def make_policy(**settings: Any) -> Policy:
    """A policy from settings (None means the default), with one clear line for bad values."""
    try:
        return Policy(**{k: v for k, v in settings.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'policy'}: {e['msg']}" for e in exc.errors()
        )
        raise AnalyzerError(f"invalid policy: {problems}", exit_code=2) from exc
