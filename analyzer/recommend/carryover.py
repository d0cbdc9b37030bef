"""Never less safe than before: every phase, operation and VPC state without enough evidence
keeps the larger of its previous value and the runtime's built-in default, and `unknown` takes
the most demanding state, carried-over ones included."""

from __future__ import annotations

from analyzer.recommend.caveats import thin_evidence_warnings
from analyzer.recommend.model import Methods, PhaseTimeout, Quantiles
from analyzer.recommend.policy import Policy
from analyzer.runtime.defaults import default_config
from analyzer.runtime.schema import VPC_STATES

UNKNOWN = "unknown"
Key = tuple[int, str, str]
# A key of one service's rows (None: the env-wide rows, every service pooled).
ServiceKey = tuple[str | None, int, str, str]
STATES = tuple(s for s in VPC_STATES if s != UNKNOWN)


def no_evidence(
    phase: int, operation: str, vpc_state: str, service: str | None = None
) -> PhaseTimeout:
    """The row of a key the window holds no attempt for."""
    return PhaseTimeout(
        service=service,
        phase=phase,
        operation=operation,
        vpc_state=vpc_state,
        attempts=0,
        completed=0,
        censored=0,
        quantiles_s=Quantiles(p50=None, p90=None, p95=None, p99=None),
        methods=Methods(
            p50="insufficient-data",
            p90="insufficient-data",
            p95="insufficient-data",
            p99="insufficient-data",
        ),
        ci_s=(None, None),
        current_timeout_s=None,
        timeout_s=None,
        timeout_rate_current=None,
        timeout_rate_recommended=None,
    )


def _width(row: PhaseTimeout) -> float:
    low, high = row.ci_s
    return high - low if low is not None and high is not None else 0.0


def _settled(
    row: PhaseTimeout, previous: float | None, default: float | None, policy: Policy
) -> PhaseTimeout:
    if row.timeout_s is None:  # no evidence: carry the larger of what was there before
        # A tie is the default's: a value carried run after run keeps saying where it began.
        # Thin evidence may raise it, never lower it: the bound of the key's own few attempts.
        pairs = ((default, "default"), (previous, "previous"), (row.own_bound_s, "recommended"))
        known = [(v, s) for v, s in pairs if v is not None]
        value, source = max(known, key=lambda k: k[0]) if known else (policy.ceiling_s, "ceiling")
        clamped = "ceiling" if row.own_bound_s is not None and value >= policy.ceiling_s else None
        settled = row.model_copy(
            update={
                "timeout_s": value,
                "source": source,
                "previous_timeout_s": previous,
                "clamped": clamped,
            }
        )
        settled.warnings = [*row.warnings, *thin_evidence_warnings(settled, policy)]
        return settled
    below = previous is not None and row.timeout_s < previous - _width(row)
    return row.model_copy(update={"previous_timeout_s": previous, "below_previous": below})


def carry_over(
    rows: list[PhaseTimeout],
    *,
    env: str,
    previous: dict[Key, float],
    policy: Policy,
    service: str | None = None,
) -> list[PhaseTimeout]:
    """Every key of the recommendation, the previous export and the runtime's defaults, each
    with a value and where it came from; `unknown` per phase and operation last. `rows` and
    `previous` are one service's (None: the env-wide ones)."""
    defaults = default_config(env).timeouts
    found = {(r.phase, r.operation, r.vpc_state): r for r in rows}
    pairs = dict.fromkeys(
        sorted({k[:2] for k in found} | {k[:2] for k in previous} | {k[:2] for k in defaults})
    )
    settled: list[PhaseTimeout] = []
    for phase, operation in pairs:
        others = {k[2] for k in found if k[:2] == (phase, operation)} - {*STATES, UNKNOWN}
        states = [*STATES, *sorted(others)]
        group = [
            _settled(
                found.get((phase, operation, state))
                or no_evidence(phase, operation, state, service),
                previous.get((phase, operation, state)),
                defaults.get((phase, operation, state)),
                policy,
            )
            for state in states
        ]
        own = found.get((phase, operation, UNKNOWN))
        candidates = [*group, *([own] if own is not None and own.timeout_s is not None else [])]
        worst = max(candidates, key=lambda r: (r.timeout_s or 0.0, r.attempts))
        before = previous.get((phase, operation, UNKNOWN))
        unknown = worst.model_copy(
            update={
                "vpc_state": UNKNOWN,
                "derived_from": None if worst is own else worst.vpc_state,
                "previous_timeout_s": before,
                "below_previous": before is not None
                and worst.source == "recommended"
                and (worst.timeout_s or 0.0) < before - _width(worst),
            }
        )
        settled.extend([*group, unknown])
    return settled


def previous_of(previous: dict[ServiceKey, float], service: str | None) -> dict[Key, float]:
    """One service's previous values: its own, else the env-wide ones it ran with (a service
    without a section of its own runs on the env's default section)."""
    env_wide = {k[1:]: v for k, v in previous.items() if k[0] is None}
    if service is None:
        return env_wide
    return {**env_wide, **{k[1:]: v for k, v in previous.items() if k[0] == service}}
