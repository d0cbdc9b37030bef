"""What strain costs one service: the extra startup seconds spent in strained hours, the
startups that failed (or would fail under the deployed timeouts) then, and the deploys begun
during strain; and what running strained hours at healthy speed would save. Numbers in,
numbers out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class ServiceStartups:
    """One service's startups in the window, one entry each."""

    strained: NDArray[np.bool_]  # begun while the connector was strained
    healthy: NDArray[np.bool_]  # begun while it was healthy (neither: state unknown)
    duration_s: NDArray[np.float64]  # start to end, NaN with no end seen
    failed: NDArray[np.bool_]
    would_fail: NDArray[np.bool_]  # completed, but a phase ran past today's timeout
    deploy: NDArray[np.bool_]  # the first startup seen of its revision


@dataclass(frozen=True)
class StrainCost:
    """What strain cost a service over `weeks` weeks, and what healthy speed would save.

    `extra_s_per_week`: the strained startups' seconds over the healthy mean, per week.
    `failures_saved`: strained failures past what the healthy failure rate would give."""

    startups: int
    strained_startups: int
    healthy_mean_s: float | None
    extra_s_per_week: float | None
    failed: int
    failed_in_strain: int
    would_fail_in_strain: int
    deploys: int
    deploys_in_strain: int
    failures_saved: float | None

    @property
    def deploy_strain_share(self) -> float | None:
        return self.deploys_in_strain / self.deploys if self.deploys else None


def strain_cost(startups: ServiceStartups, *, weeks: float) -> StrainCost:
    """The costs of one service's startups over a window of `weeks` weeks."""
    ended = ~np.isnan(startups.duration_s)
    healthy_ended = startups.healthy & ended
    healthy_mean = float(startups.duration_s[healthy_ended].mean()) if healthy_ended.any() else None
    strained_ended = startups.strained & ended
    extra = None
    if healthy_mean is not None and weeks > 0:
        extra = float((startups.duration_s[strained_ended] - healthy_mean).sum()) / weeks
    failed_in_strain = int((startups.failed & startups.strained).sum())
    saved = None
    if startups.healthy.any():
        healthy_rate = float(startups.failed[startups.healthy].mean())
        saved = failed_in_strain - healthy_rate * int(startups.strained.sum())
    return StrainCost(
        startups=len(startups.failed),
        strained_startups=int(startups.strained.sum()),
        healthy_mean_s=healthy_mean,
        extra_s_per_week=extra,
        failed=int(startups.failed.sum()),
        failed_in_strain=failed_in_strain,
        would_fail_in_strain=int(
            (startups.would_fail & startups.strained & ~startups.failed).sum()
        ),
        deploys=int(startups.deploy.sum()),
        deploys_in_strain=int((startups.deploy & startups.strained).sum()),
        failures_saved=saved,
    )
