"""The recommendation as data: policy in, timeouts and breaker settings out (pydantic models)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from analyzer.analysis.methods import Method
from analyzer.errors import AnalyzerError, did_you_mean
from analyzer.recommend.policy import Policy
from analyzer.timewindow import Window

SCHEMA_VERSION = 1


class Quantiles(BaseModel):
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None


class Methods(BaseModel):
    p50: Method
    p90: Method
    p95: Method
    p99: Method


WarningKind = Literal[
    "clamped",
    "beyond-data",
    "above-target",
    "fit-disagrees",
    "drift",
    "joint-coverage",
    "slower-than-pool",
    "thin-evidence",
    "all-cut",
]


class RecommendationWarning(BaseModel):
    """Something the numbers cannot say, in words, with where it applies."""

    kind: WarningKind
    service: str | None = None
    phase: int | None = None
    operation: str | None = None
    vpc_state: str | None = None
    message: str


ValueSource = Literal["recommended", "previous", "default", "ceiling"]


class PhaseTimeout(BaseModel):
    """The evidence and the recommended timeout for one service (or the env's pooled
    services), phase, operation and VPC state."""

    service: str | None = Field(
        None,
        description="The service whose attempts these are; None: every service of the env "
        "pooled (the env-wide default).",
    )
    phase: int
    operation: str
    vpc_state: str
    attempts: int
    completed: int
    censored: int
    quantiles_s: Quantiles
    methods: Methods
    ci_s: tuple[float | None, float | None]
    current_timeout_s: float | None
    timeout_s: float | None
    timeout_rate_current: float | None
    timeout_rate_recommended: float | None
    widened: bool = Field(False, description="Few data: the upper confidence bound was used.")
    timeout_rate_recommended_upper: float | None = Field(
        None, description="Upper confidence bound of the predicted timeout rate."
    )
    raw_timeout_s: float | None = Field(
        None, description="What the policy asks for before rounding and clamping (None: unbounded)."
    )
    clamped: Literal["floor", "ceiling"] | None = None
    # Collected into the recommendation's `warnings` (kept out of each row's JSON and CSV).
    warnings: list[RecommendationWarning] = Field(default_factory=list, exclude=True)
    derived_from: str | None = Field(
        None, description="For `unknown`: the VPC state whose numbers it takes."
    )
    source: ValueSource = Field(
        "recommended",
        description="Where timeout_s came from: recommended (this window's evidence), previous "
        "(carried over from the previous export: no evidence here), default (the runtime's "
        "built-in value), ceiling (no evidence and nothing before it: the policy's ceiling).",
    )
    own_bound_s: float | None = Field(
        None,
        description="Under --min-attempts, or with (almost) every attempt cut: the least "
        "timeout its own attempts allow (their upper band at the policy's level; the ceiling "
        "where they bound nothing). The key keeps the larger of this and what it carries.",
    )
    pooled: bool = Field(
        False,
        description="Too few attempts of its own: the env's pooled estimate, widened by how "
        "much services differ.",
    )
    previous_timeout_s: float | None = Field(
        None, description="The previous export's (or the deployed file's) value for this key."
    )
    below_previous: bool = Field(
        False,
        description="Recommended lower than the previous value by more than its confidence "
        "interval: allowed, and shown.",
    )


# The settings a Breaker carries beyond the three of the consecutive mode, as the config's
# breaker block names them: the rate mode's own, and the OPEN and HALF_OPEN limits of both.
RATE_SETTINGS = (
    "window_calls",
    "window_s",
    "minimum_calls",
    "failure_rate_threshold",
    "slow_call_rate_threshold",
    "slow_call_s",
)
BOTH_MODES_SETTINGS = ("backoff_multiplier", "max_recovery_timeout_s", "max_half_open_s")


class Breaker(BaseModel):
    """The breaker settings the advice recommends (the config's `breaker` block) and the
    evidence behind each. A run saved before the rate mode existed loads in mode consecutive
    with none of the rate settings."""

    failure_threshold: int = Field(
        description="Consecutive failures that open it (mode consecutive)."
    )
    recovery_timeout_s: float = Field(description="The wait in OPEN before the first probe.")
    half_open_max_calls: int = Field(description="Probes let through in HALF_OPEN.")
    mode: Literal["consecutive", "rate"] = "consecutive"
    window_calls: int | None = Field(None, description="Calls in the sliding window (rate mode).")
    window_s: float | None = Field(None, description="A time-based window instead, in seconds.")
    minimum_calls: int | None = Field(None, description="No rate decision before this many calls.")
    failure_rate_threshold: float | None = Field(
        None, description="Share of failed calls in the window that opens it."
    )
    slow_call_rate_threshold: float | None = Field(
        None, description="Share of slow calls in the window that opens it."
    )
    slow_call_s: float | None = Field(
        None, description="Slow means longer than this; None: the call's phase and state timeout."
    )
    backoff_multiplier: float | None = Field(
        None, description="Each re-open after a failed probe multiplies the wait in OPEN."
    )
    max_recovery_timeout_s: float | None = Field(None, description="Cap on the backed-off wait.")
    max_half_open_s: float | None = Field(
        None, description="Longest stay in HALF_OPEN without an outcome."
    )
    evidence: dict[str, Any]


class Recommendation(BaseModel):
    schema_version: int = SCHEMA_VERSION
    run_id: str = Field("", description="Short id; `export --run ID` picks the run.")
    env: str
    generated_at: datetime
    window: Window
    policy: Policy
    overrides: dict[str, str] = Field(
        default_factory=dict,
        description="Window and policy settings that differ from the env's standing ones.",
    )
    previous_from: str | None = Field(
        None, description="Where the values carried over came from (a run id or a file)."
    )
    timeouts: list[PhaseTimeout]
    breaker: Breaker
    warnings: list[RecommendationWarning] = Field(default_factory=list)

    @property
    def services(self) -> list[str]:
        """The services with rows of their own, by name."""
        return sorted({t.service for t in self.timeouts if t.service is not None})

    def rows_of(self, service: str | None) -> list[PhaseTimeout]:
        """The rows of one service; None: the env-wide rows (all services pooled)."""
        return [t for t in self.timeouts if t.service == service]

    def for_services(self, services: Sequence[str]) -> Recommendation:
        """This run with only the rows and warnings of `services` (see `only_services`); a
        service the run has no rows for is one clear error naming the ones it has."""
        window = f"{self.window.start:%Y-%m-%d %H:%M} to {self.window.end:%Y-%m-%d %H:%M} UTC"
        check_services(services, self.services, f"env {self.env!r} from {window}")
        return self.only_services(services)

    def only_services(self, services: Sequence[str]) -> Recommendation:
        """This run with only the rows and warnings of `services` (the env-wide ones dropped;
        the warnings about the policy kept); all of it when `services` is empty."""
        if not services:
            return self
        keep = set(services)
        return self.model_copy(
            update={
                "timeouts": [t for t in self.timeouts if t.service in keep],
                "warnings": [w for w in self.warnings if w.service in keep or w.phase is None],
            }
        )

    @model_validator(mode="before")
    @classmethod
    def _recorded_before_target_rates(cls, data: Any) -> Any:
        """A run recorded before the target-rate rule existed used the quantile rule."""
        policy = data.get("policy") if isinstance(data, dict) else None
        if isinstance(policy, dict) and "target_rate" not in policy:
            return {**data, "policy": {**policy, "target_rate": None}}
        return data


def check_services(asked: Sequence[str], known: Sequence[str], where: str) -> None:
    """An error naming the services `where` has, unless it has every one `asked`."""
    unknown = [s for s in asked if s not in known]
    if unknown:
        has = ", ".join(known) if known else "none (rows recorded before services were)"
        raise AnalyzerError(
            f"no service {', '.join(repr(s) for s in unknown)} in {where}"
            f"{did_you_mean(unknown[0], known)}; its services: {has}"
        )
