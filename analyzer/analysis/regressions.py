"""Regressions by revision: did a service's newest revision make a phase slower than the
revisions before it, per phase, operation and VPC state, beyond what noise explains?

Each comparison is the newest revision's attempts against those of every earlier revision of
the same service in the window, one VPC state at a time (the state changes durations far more
than any deploy, and the revisions met different mixes of it), plus one row over all states
(`vpc_state` = `all`) whose test is the log-rank test stratified by state. Censoring (timeouts,
errors) is honoured throughout: medians and p95 come from Kaplan-Meier curves, the test is the
log-rank test, one-sided (a deploy that made a phase faster is not an alarm). Across every
comparison of a run, the p-values are adjusted by Benjamini-Hochberg in two stages (phases,
then their states; see `_adjusted`), and a comparison is flagged when its q-value is at most
the false discovery rate asked for. The newest revision is the one first seen last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel

from analyzer.analysis.fleet import service_frame
from analyzer.analysis.stats.logrank import LogRank, logrank, stratified_logrank
from analyzer.analysis.stats.multiple import benjamini_hochberg
from analyzer.analysis.stats.survival import KaplanMeier
from analyzer.engine import Engine
from analyzer.errors import AnalyzerError
from analyzer.timewindow import Window

if TYPE_CHECKING:
    import polars as pl

ALL_STATES = "all"
CONFIDENCE = 0.95
FDR = 0.02  # a clean week raised an alarm in 3 % of simulated fleets (README)
MIN_ATTEMPTS = 10  # per side of a comparison, and at least one completion on each
METHOD = (
    "newest revision against the earlier ones of the window, per phase, operation and VPC "
    "state; one-sided log-rank test (stratified by state for `all`); two-stage Benjamini-"
    "Hochberg (phases by their `all` test, then states within the phases selected); ratio "
    "intervals from each Kaplan-Meier quantile's Brookmeyer-"
    "Crowley interval on the log scale (inverse-variance pooled over states for `all`)"
)


class Ratio(BaseModel):
    """A quantile of the new revision over the same quantile of the earlier ones."""

    new_s: float | None
    baseline_s: float | None
    ratio: float | None
    ci: tuple[float | None, float | None]

    def text(self) -> str:
        """`x1.26 (1.11..1.43)`; `n/a` where a side's curve never reaches the quantile."""
        if self.ratio is None:
            return "n/a"
        low, high = self.ci
        band = f" ({low:.2f}..{high:.2f})" if low is not None and high is not None else ""
        return f"x{self.ratio:.2f}{band}"


class RevisionComparison(BaseModel):
    service: str
    revision: str
    first_seen: datetime
    baseline_revisions: list[str]
    phase: int
    operation: str
    vpc_state: str  # `all`: over every state compared, stratified by state
    attempts_new: int
    attempts_baseline: int
    censored_new: int
    censored_baseline: int
    median: Ratio
    p95: Ratio
    logrank_z: float
    p_value: float  # one-sided: the new revision is slower
    q_value: float  # Benjamini-Hochberg over every comparison of the run
    flagged: bool


class RegressionReport(BaseModel):
    env: str
    window: Window
    fdr: float
    method: str
    revisions: int  # how many of each service's newest revisions were compared
    services: list[str]
    comparisons: list[RevisionComparison]
    not_compared: int  # phase x state cells with fewer than MIN_ATTEMPTS on a side

    @property
    def flagged(self) -> list[RevisionComparison]:
        return [c for c in self.comparisons if c.flagged]


@dataclass(frozen=True)
class _Side:
    duration_s: NDArray[np.float64]
    observed: NDArray[np.bool_]

    @property
    def comparable(self) -> bool:
        return self.duration_s.size >= MIN_ATTEMPTS and bool(self.observed.any())


@dataclass(frozen=True)
class _Quantile:
    value: float | None
    log_se: float | None


def _quantile(km: KaplanMeier, q: float) -> _Quantile:
    """The quantile and the standard error of its log, read off the Brookmeyer-Crowley
    interval (its width on the log scale over 2 z)."""
    value = km.quantile(q)
    low, high = km.quantile_ci(q, CONFIDENCE)
    if value is None or low is None or high is None or low <= 0:
        return _Quantile(value, None)
    z = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)
    return _Quantile(value, (math.log(high) - math.log(low)) / (2 * z))


def _ratio(new: _Quantile, base: _Quantile) -> tuple[Ratio, _LogRatio]:
    """The ratio, and its log and standard error (for pooling over states)."""
    if new.value is None or base.value is None or new.value <= 0 or base.value <= 0:
        return Ratio(new_s=new.value, baseline_s=base.value, ratio=None, ci=(None, None)), (
            None,
            None,
        )
    log_ratio = math.log(new.value / base.value)
    se = None
    if new.log_se is not None and base.log_se is not None:
        se = math.hypot(new.log_se, base.log_se)
    ratio = Ratio(
        new_s=new.value,
        baseline_s=base.value,
        ratio=math.exp(log_ratio),
        ci=_interval(log_ratio, se),
    )
    return ratio, (log_ratio, se)


def _interval(log_ratio: float, se: float | None) -> tuple[float | None, float | None]:
    if se is None:
        return None, None
    z = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)
    return math.exp(log_ratio - z * se), math.exp(log_ratio + z * se)


def _pooled_ratio(logs: list[_LogRatio]) -> Ratio:
    """The inverse-variance mean of per-state log ratios (a fixed-effect pool), with its
    interval; no quantile of its own (the states' mixes differ)."""
    usable = [(v, s) for v, s in logs if v is not None and s is not None and s > 0]
    if not usable:
        return Ratio(new_s=None, baseline_s=None, ratio=None, ci=(None, None))
    weights = [1 / s**2 for _, s in usable]
    log_ratio = sum(w * v for w, (v, _) in zip(weights, usable, strict=True)) / sum(weights)
    se = 1 / math.sqrt(sum(weights))
    return Ratio(
        new_s=None, baseline_s=None, ratio=math.exp(log_ratio), ci=_interval(log_ratio, se)
    )


_Key = tuple[str, str, datetime, list[str], int, str, str]
_LogRatio = tuple[float | None, float | None]  # log of a ratio, and its standard error


@dataclass
class _Cell:
    """One comparison before the adjustment."""

    key: _Key
    new: _Side
    base: _Side
    test: LogRank
    median: Ratio
    p95: Ratio


def compare_revisions(
    frame: pl.DataFrame, *, revisions: int = 1, fdr: float = FDR
) -> tuple[list[RevisionComparison], int]:
    """Every comparison of the frame (`queries/revision_attempts.sql`'s columns), adjusted
    together; and how many phase x state cells had too few attempts to compare."""
    duration = frame["duration_s"].to_numpy().astype(np.float64)
    observed = frame["observed"].to_numpy().astype(bool)
    cells_of: dict[tuple[str, str], dict[tuple[int, str, str], list[int]]] = {}
    first_seen: dict[tuple[str, str], datetime] = {}
    rows = zip(
        frame["service"].to_list(),
        frame["revision"].to_list(),
        frame["first_seen"].to_list(),
        frame["phase"].to_list(),
        frame["operation"].to_list(),
        frame["vpc_state"].to_list(),
        strict=True,
    )
    for i, (service, revision, seen, phase, operation, state) in enumerate(rows):
        cells_of.setdefault((service, revision), {}).setdefault(
            (int(phase), operation, state), []
        ).append(i)
        first_seen[service, revision] = min(seen, first_seen.get((service, revision), seen))

    def side(indices: list[int]) -> _Side:
        return _Side(duration[indices], observed[indices])

    families: list[list[_Cell]] = []
    skipped = 0
    for service in sorted({s for s, _ in cells_of}):
        names = sorted(
            (r for s, r in cells_of if s == service), key=lambda r: (first_seen[service, r], r)
        )
        for index in range(max(1, len(names) - revisions), len(names)):
            new = {k: side(v) for k, v in cells_of[service, names[index]].items()}
            base_rows: dict[tuple[int, str, str], list[int]] = {}
            for name in names[:index]:
                for key, indices in cells_of[service, name].items():
                    base_rows.setdefault(key, []).extend(indices)
            base = {k: side(v) for k, v in base_rows.items()}
            head = (service, names[index], first_seen[service, names[index]], names[:index])
            made, missed = _compare(head, new, base)
            families.extend(made)
            skipped += missed
    return _adjusted(families, fdr), skipped


def _adjusted(families: list[list[_Cell]], fdr: float) -> list[RevisionComparison]:
    """Two-stage Benjamini-Hochberg over families of hypotheses (Benjamini and Bogomolov
    2014): a family is one phase and operation of one revision, its test the log-rank test
    stratified by state (the `all` row, first in the family). Stage 1 selects the families
    whose BH-adjusted p-value is at most `fdr`; stage 2 runs BH within each selected family
    over its states at `fdr` x selected / families. A state's q-value is scaled so that it is
    flagged when its q-value is at most `fdr` and its family was selected."""
    family_q = benjamini_hochberg([family[0].test.p_slower for family in families])
    selected = int((family_q <= fdr).sum())
    scale = len(families) / max(selected, 1)
    out = []
    for family, q in zip(families, family_q, strict=True):
        out.append(_comparison(family[0], float(q), bool(q <= fdr)))
        states = family[1:]
        within = benjamini_hochberg([c.test.p_slower for c in states]) * scale
        for cell, state_q in zip(states, within, strict=True):
            state_q = min(float(state_q), 1.0)
            out.append(_comparison(cell, state_q, bool(q <= fdr and state_q <= fdr)))
    return out


def _comparison(cell: _Cell, q_value: float, flagged: bool) -> RevisionComparison:
    service, revision, first_seen, baseline, phase, operation, state = cell.key
    return RevisionComparison(
        service=service,
        revision=revision,
        first_seen=first_seen,
        baseline_revisions=baseline,
        phase=phase,
        operation=operation,
        vpc_state=state,
        attempts_new=cell.new.duration_s.size,
        attempts_baseline=cell.base.duration_s.size,
        censored_new=int((~cell.new.observed).sum()),
        censored_baseline=int((~cell.base.observed).sum()),
        median=cell.median,
        p95=cell.p95,
        logrank_z=cell.test.z,
        p_value=cell.test.p_slower,
        q_value=q_value,
        flagged=flagged,
    )


def _compare(
    head: tuple[str, str, datetime, list[str]],
    new_sides: dict[tuple[int, str, str], _Side],
    base_sides: dict[tuple[int, str, str], _Side],
) -> tuple[list[list[_Cell]], int]:
    """One family per phase and operation: its `all` row first, then its states."""
    families: list[list[_Cell]] = []
    skipped = 0
    for phase, operation in sorted({(p, o) for p, o, _ in new_sides}):
        states = []
        for key in sorted(k for k in new_sides if k[:2] == (phase, operation)):
            new, base = new_sides[key], base_sides.get(key)
            if base is None or not (new.comparable and base.comparable):
                skipped += 1
                continue
            states.append(_cell((*head, phase, operation, key[2]), new, base))
        if states:
            overall = _all_states((*head, phase, operation, ALL_STATES), states)
            families.append([overall, *(cell for cell, _, _ in states)])
    return families, skipped


def _cell(key: _Key, new: _Side, base: _Side) -> tuple[_Cell, _LogRatio, _LogRatio]:
    km_new = KaplanMeier.fit(new.duration_s, new.observed)
    km_base = KaplanMeier.fit(base.duration_s, base.observed)
    median, median_log = _ratio(_quantile(km_new, 0.5), _quantile(km_base, 0.5))
    p95, p95_log = _ratio(_quantile(km_new, 0.95), _quantile(km_base, 0.95))
    test = logrank(new.duration_s, new.observed, base.duration_s, base.observed)
    return _Cell(key, new, base, test, median, p95), median_log, p95_log


def _all_states(key: _Key, states: list[tuple[_Cell, _LogRatio, _LogRatio]]) -> _Cell:
    def joined(side: str) -> _Side:
        parts = [getattr(cell, side) for cell, _, _ in states]
        return _Side(
            np.concatenate([p.duration_s for p in parts]),
            np.concatenate([p.observed for p in parts]),
        )

    test = stratified_logrank(cell.test for cell, _, _ in states)
    median = _pooled_ratio([m for _, m, _ in states])
    p95 = _pooled_ratio([p for _, _, p in states])
    return _Cell(key, joined("new"), joined("base"), test, median, p95)


def regressions(
    *,
    engine: Engine,
    env: str,
    service: str | None = None,
    since: str = "28d",
    until: str | None = None,
    revisions: int = 1,
    fdr: float = FDR,
) -> RegressionReport:
    """Compare each service's `revisions` newest revisions of the window with the ones before."""
    if not 0 < fdr < 1:
        raise AnalyzerError(f"--fdr {fdr}: a false discovery rate is between 0 and 1")
    if revisions < 1:
        raise AnalyzerError(f"--revisions {revisions}: compare at least one revision")
    frame, services, window = service_frame(
        engine, "revision_attempts", env=env, service=service, since=since, until=until
    )
    comparisons, skipped = compare_revisions(frame, revisions=revisions, fdr=fdr)
    return RegressionReport(
        env=env,
        window=window,
        fdr=fdr,
        method=METHOD,
        revisions=revisions,
        services=services,
        comparisons=comparisons,
        not_compared=skipped,
    )
