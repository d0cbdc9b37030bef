"""Audit: the timeouts a service runs with, judged against the laws its attempts came from.

For each case, over many seeds: a window of startups drawn from known phase-3 laws per VPC
state (`analyzer.simulate.draw_state_attempts`), the recommendation the weekly job makes of
them (`recommendation_of`, the default policy, nothing carried over), its exported config
written to a file, and the timeout the runtime calculator resolves from that file for each
state (`analyzer.runtime.calculator.timeout_for`). Each is judged by its true timeout rate
(the law's survival there) and by its ratio to the ideal timeout (the law's quantile at the
policy's target rate). Prints, per case, the seeds, the share of states x seeds within 1 %
true timeouts (overall and per state), the median ratio to the ideal, and each case's goal.

    uv run python benchmarks/estimator_audit.py --seeds 20
    uv run python benchmarks/estimator_audit.py --seeds 5 --case "weibull 1.5, 12/day"
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from analyzer.analysis.attempts import AttemptGroup
from analyzer.deploy.export import config_from_recommendation, write_config
from analyzer.recommend.policy import Policy
from analyzer.recommend.timeouts import recommendation_of
from analyzer.runtime import calculator
from analyzer.simulate import (
    PHASE3_LAWS,
    AnyLaw,
    DrawnAttempts,
    DurationLaw,
    MixtureLaw,
    ShiftingLaw,
    WeibullLaw,
    draw_state_attempts,
)
from analyzer.timewindow import Window

START = datetime(2026, 10, 26, tzinfo=UTC)
DAYS = 28.0
ENV = "staging"
SAFE_RATE = 0.01  # "within 1 % true timeouts"


def weibulls(shape: float) -> dict[str, AnyLaw]:
    """Every state Weibull of `shape`, with the sample's medians."""
    return {
        state: WeibullLaw(law.median_s / np.log(2) ** (1 / shape), shape)
        for state, law in PHASE3_LAWS.items()
    }


@dataclass(frozen=True)
class Case:
    """Laws by state, startups a day, the timeouts in force (equal parts of the window), which
    state-seeds are judged (by attempts and completed), and the goal."""

    laws: Mapping[str, AnyLaw]
    per_day: float
    timeouts_s: tuple[float, ...] = (20.0, 75.0)
    judged: Callable[[DrawnAttempts], bool] = lambda a: int(a.observed.sum()) >= 25
    safe_share: float = 0.95  # of the judged state-seeds (every state, each state's own)
    max_median_ratio: float | None = None
    states: tuple[str, ...] | None = None  # None: all


def all_cut(a: DrawnAttempts) -> bool:
    return a.duration_s.size > 0 and not a.observed.any()


# A slow tenth behind the 75 s cut in the two strained states; the states 1.5x slower from two
# thirds into the window.
HEAVY = {
    "pressure": MixtureLaw(DurationLaw(28.0, 0.35), DurationLaw(90.0, 0.30), 0.10),
    "critical": MixtureLaw(DurationLaw(45.0, 0.35), DurationLaw(120.0, 0.30), 0.10),
}
SHIFTED = {
    state: ShiftingLaw(law, DurationLaw(1.5 * law.median_s, law.sigma), at=2 / 3)
    for state, law in PHASE3_LAWS.items()
}
CASES: dict[str, Case] = {
    "weibull 1.5, 12/day": Case(weibulls(1.5), 12.0, max_median_ratio=1.8),
    "weibull 2, 12/day": Case(weibulls(2.0), 12.0, max_median_ratio=1.8),
    "sample laws, 6/day": Case(
        PHASE3_LAWS, 6.0, judged=lambda a: a.duration_s.size >= 10, safe_share=0.90
    ),
    "weibull 1.5, 6/day": Case(
        weibulls(1.5), 6.0, judged=lambda a: a.duration_s.size >= 10, safe_share=0.90
    ),
    "all cut at 20 s, 20/day": Case(
        PHASE3_LAWS, 20.0, timeouts_s=(20.0,), judged=all_cut, states=("pressure", "critical")
    ),
    "heavy mixture, 12/day": Case(HEAVY, 12.0, judged=lambda a: a.duration_s.size > 0),
    "shift x1.5 at 2/3, 12/day": Case(SHIFTED, 12.0, judged=lambda a: a.duration_s.size > 0),
}


def groups_of(
    drawn: Mapping[str, DrawnAttempts], timeouts_s: tuple[float, ...]
) -> list[AttemptGroup]:
    """Phase-3 attempt groups as the lake gives them, one per state."""
    found = []
    for state, a in sorted(drawn.items()):
        started = START.timestamp() + a.started_s
        part = np.minimum(
            (a.started_s / a.window_s * len(timeouts_s)).astype(int), len(timeouts_s) - 1
        )
        found.append(
            AttemptGroup(
                phase=3,
                operation="initialization",
                vpc_state=state,
                started_s=started,
                ended_s=started + a.duration_s,
                duration_s=a.duration_s,
                observed=a.observed,
                timeout_s=np.asarray(timeouts_s, dtype=np.float64)[part],
            )
        )
    return found


def resolved_timeouts(groups: list[AttemptGroup], policy: Policy, folder: Path) -> dict[str, float]:
    """The timeout the runtime resolves per state from the exported config of the run."""
    end = START + timedelta(days=DAYS)
    rec = recommendation_of(
        groups, env=ENV, window=Window(start=START, end=end), policy=policy, previous={}
    )
    path = write_config(config_from_recommendation(rec), folder / "timeouts.json")
    calculator.load_config(path)
    found = {}
    for state in PHASE3_LAWS:
        value = calculator.timeout_for(ENV, "initialization", state, phase=3)
        assert value is not None
        found[state] = value
    return found


@dataclass
class CaseResult:
    seeds: list[int]
    safe: dict[str, list[bool]] = field(default_factory=dict)
    ratios: dict[str, list[float]] = field(default_factory=dict)
    rates: dict[str, list[float]] = field(default_factory=dict)

    def figures(self, case: Case) -> dict[str, object]:
        every = [s for v in self.safe.values() for s in v]
        ratios = [r for v in self.ratios.values() for r in v]
        by_state = {s: float(np.mean(v)) for s, v in self.safe.items() if v}
        median = float(np.median(ratios)) if ratios else None
        met = bool(every) and min(by_state.values()) >= case.safe_share
        if case.max_median_ratio is not None:
            met = met and median is not None and median <= case.max_median_ratio
        return {
            "seeds": f"{self.seeds[0]}..{self.seeds[-1]}" if self.seeds else "",
            "state_seeds_judged": len(every),
            "share_within_1pct": round(float(np.mean(every)), 3) if every else None,
            "share_within_1pct_by_state": {s: round(v, 3) for s, v in by_state.items()},
            "judged_by_state": {s: len(v) for s, v in self.safe.items()},
            "median_ratio_to_ideal": None if median is None else round(median, 2),
            "median_ratio_by_state": {
                s: round(float(np.median(v)), 2) for s, v in self.ratios.items() if v
            },
            "worst_true_rate": round(
                max((r for v in self.rates.values() for r in v), default=0.0), 4
            ),
            "goal": {
                "safe_share_each_state": case.safe_share,
                "max_median_ratio": case.max_median_ratio,
            },
            "met": met,
        }


def audit(case: Case, seeds: list[int], policy: Policy | None = None) -> CaseResult:
    policy = policy or Policy()
    result = CaseResult(seeds=seeds)
    ideal_rate = policy.tolerated_rate
    with tempfile.TemporaryDirectory(prefix="estimator-audit-") as tmp:
        for seed in seeds:
            drawn = draw_state_attempts(
                case.laws,
                case.per_day,
                np.random.default_rng(seed),
                timeouts_s=case.timeouts_s,
                days=DAYS,
            )
            timeouts = resolved_timeouts(groups_of(drawn, case.timeouts_s), policy, Path(tmp))
            for state, a in drawn.items():
                if (case.states and state not in case.states) or not case.judged(a):
                    continue
                law = case.laws.get(state, PHASE3_LAWS[state])
                rate = law.survival(timeouts[state])
                result.safe.setdefault(state, []).append(rate <= SAFE_RATE)
                result.rates.setdefault(state, []).append(rate)
                result.ratios.setdefault(state, []).append(
                    timeouts[state] / law.quantile(1 - ideal_rate)
                )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--case", action="append", choices=list(CASES), default=None)
    args = parser.parse_args()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    figures = {name: audit(CASES[name], seeds).figures(CASES[name]) for name in args.case or CASES}
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
