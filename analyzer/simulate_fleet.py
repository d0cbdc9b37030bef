"""Sample fleets: several services of one env reading one VPC timeline, each deployed every few
days, and optionally one revision made slower, so regressions and blame have a known truth.

Every service runs the single-service story of `analyzer.simulate` (the same phases, errors,
timeouts and sink duplicates) with its own phase-3 laws: `PHASE3_LAWS` with every median times
the service's `phase3_scale` (a lognormal times a constant is the same lognormal with its median
scaled). The env has one VPC connector timeline, and every service's startups read the state in
force at their start. A service's revisions are deployed every `deploy_every_days` (plus or
minus a quarter) and rolled out over `ROLLOUT_HOURS`: a startup in that time belongs to the new
revision with a chance growing linearly from 0 to 1. `--regression SERVICE:FACTOR` multiplies
the phase-3 durations of that service's newest revision by FACTOR.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from analyzer.errors import AnalyzerError
from analyzer.simulate import (
    PHASE3_LAWS,
    STARTUPS_PER_HOUR,
    UTILIZATION,
    DurationLaw,
    SimulationManifest,
    SimulationSpec,
    _draw_state,
    _rfc3339,
    _startup,
    _with_duplicates,
    _Writer,
    write_entries,
)


@dataclass(frozen=True)
class FleetService:
    """One service of a fleet: phase-3 medians times `phase3_scale`, startups at
    `rate_scale` times the env's rate."""

    name: str
    phase3_scale: float = 1.0
    rate_scale: float = 1.0

    def laws(self, factor: float = 1.0) -> dict[str, DurationLaw]:
        scale = self.phase3_scale * factor
        return {s: DurationLaw(law.median_s * scale, law.sigma) for s, law in PHASE3_LAWS.items()}


# Services the generator knows by name; any other is given as NAME=SCALE.
KNOWN_SERVICES = {
    "backend": FleetService("backend"),
    "auth": FleetService("auth", phase3_scale=0.5),
    "billing": FleetService("billing", phase3_scale=1.7, rate_scale=0.5),
}
DEPLOY_EVERY_DAYS = 3.0
ROLLOUT_HOURS = 6.0


@dataclass(frozen=True)
class Regression:
    """Phase-3 durations of `service`'s newest revision multiplied by `factor`."""

    service: str
    factor: float


@dataclass(frozen=True)
class FleetSpec:
    spec: SimulationSpec
    services: tuple[FleetService, ...]
    deploy_every_days: float = DEPLOY_EVERY_DAYS
    regression: Regression | None = None


@dataclass
class FleetManifest(SimulationManifest):
    """The single-service counts over the whole fleet, and per service its Cloud Run name,
    revisions (deploy order, with when each was deployed), startups, and the revision made
    slower."""

    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    regression: dict[str, Any] | None = None


def parse_services(text: str) -> tuple[FleetService, ...]:
    """`backend,auth` (known names) or `NAME=SCALE` (phase-3 medians times SCALE)."""
    services: list[FleetService] = []
    for part in (p.strip() for p in text.split(",")):
        name, _, scale = part.partition("=")
        if scale:
            value = _positive(scale, f"--services {part!r}: the scale must be a positive number")
            services.append(FleetService(name, phase3_scale=value))
        elif name in KNOWN_SERVICES:
            services.append(KNOWN_SERVICES[name])
        else:
            raise AnalyzerError(
                f"--services: unknown service {name!r}; known: {', '.join(KNOWN_SERVICES)}, "
                "or give NAME=SCALE (phase-3 medians times SCALE)"
            )
    names = [s.name for s in services]
    if not all(names) or len(set(names)) != len(names):
        raise AnalyzerError(f"--services {text!r}: give each service once, by a non-empty name")
    return tuple(services)


def parse_regression(text: str, services: tuple[FleetService, ...]) -> Regression:
    """`SERVICE:FACTOR`, e.g. `backend:1.3`."""
    name, _, factor = text.partition(":")
    value = _positive(factor, f"--regression {text!r}: use SERVICE:FACTOR, e.g. backend:1.3")
    if name not in {s.name for s in services}:
        raise AnalyzerError(
            f"--regression {text!r}: {name!r} is not one of --services "
            f"({', '.join(s.name for s in services)})"
        )
    return Regression(name, value)


def _positive(text: str, message: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < math.inf:
        raise AnalyzerError(message)
    return value


def cloud_run_name(service: str, env: str) -> str:
    """The Cloud Run service name the generator logs (`netra-backend-staging`, as the
    single-service sample)."""
    return f"netra-{service}-{env}"


def _vpc_timeline(rng: random.Random, spec: SimulationSpec) -> list[tuple[datetime, str, float]]:
    """The env's state changes (when, new state, utilisation), drawn as the single-service
    generator draws them: a new draw every 30 to 90 minutes from the hour's mix; the first
    at the window's start, so every startup has a state on the timeline."""
    changes = [(spec.start, "healthy", 0.4)]
    state, at = "healthy", spec.start + timedelta(minutes=rng.uniform(30, 90))
    while at < spec.end:
        new_state = _draw_state(rng, at, spec.weekly_strain)
        if new_state != state:
            low, high = UTILIZATION[new_state]
            changes.append((at, new_state, round(rng.uniform(low, high), 2)))
            state = new_state
        at += timedelta(minutes=rng.uniform(30, 90))
    return changes


def _deploys(
    rng: random.Random, spec: SimulationSpec, name: str, every_days: float
) -> list[tuple[datetime, str]]:
    """(deployed at, revision name) in order; the first was deployed before the window."""
    number = rng.randrange(1, 40)
    revisions = [(spec.start - timedelta(days=1), _revision_name(rng, name, number))]
    at = spec.start + timedelta(days=every_days * rng.uniform(0.5, 1.0))
    while at < spec.end:
        number += 1
        revisions.append((at, _revision_name(rng, name, number)))
        at += timedelta(days=every_days * rng.uniform(0.75, 1.25))
    return revisions


def _revision_name(rng: random.Random, name: str, number: int) -> str:
    return f"{name}-{number:05d}-{rng.randrange(16**3):03x}"


def _revision_at(rng: random.Random, deploys: list[tuple[datetime, str]], t: datetime) -> str:
    """The revision a startup at `t` runs: the newest, or during its rollout the one before
    with a chance falling linearly to 0."""
    index = bisect.bisect_right([d for d, _ in deploys], t) - 1
    deployed_at, revision = deploys[index]
    rollout = (t - deployed_at) / timedelta(hours=ROLLOUT_HOURS)
    if index > 0 and rollout < 1 and rng.random() >= rollout:
        return deploys[index - 1][1]
    return revision


def simulate_fleet_entries(fleet: FleetSpec, manifest: FleetManifest) -> Iterator[dict[str, Any]]:
    """Every LogEntry of the fleet's window, in time order of startups and state changes."""
    spec = fleet.spec
    rng = random.Random(f"{spec.seed}:{spec.env}:fleet")
    rate = spec.startups_per_hour or STARTUPS_PER_HOUR.get(spec.env, 3.0)
    timeline = _vpc_timeline(rng, spec)
    change_times = [t for t, _, _ in timeline]
    writers, deploys, laws = {}, {}, {}
    plan: list[tuple[datetime, int, str]] = [(t, 0, "") for t in change_times]
    for service in fleet.services:
        writer = _Writer(spec, rng, manifest)
        writer.service = cloud_run_name(service.name, spec.env)
        writers[service.name] = writer
        deploys[service.name] = _deploys(rng, spec, writer.service, fleet.deploy_every_days)
        laws[service.name] = service.laws()
        revisions = deploys[service.name]
        manifest.services[service.name] = {
            "service_name": writer.service,
            "phase3_scale": service.phase3_scale,
            "revisions": [{"revision": r, "deployed_at": _rfc3339(t)} for t, r in revisions],
            "startups": 0,
        }
        now = spec.start
        while (now := now + timedelta(hours=rng.expovariate(rate * service.rate_scale))) < spec.end:
            plan.append((now, 1, service.name))
    regressed = _regressed_revision(fleet, deploys, manifest)
    plan.sort()
    first = writers[fleet.services[0].name]
    for t, kind, name in plan:
        if kind == 0:
            index = bisect.bisect_right(change_times, t) - 1
            before = timeline[index - 1][1] if index else "unknown"
            _, state, utilization = timeline[index]
            manifest.vpc_state_changes += 1
            event = first.event(
                t,
                None,
                _revision_at(rng, deploys[fleet.services[0].name], t),
                "vpc_state_changed",
                from_state=before,
                to_state=state,
                vpc_state=state,
                vpc_utilization=utilization,
            )
            yield from _with_duplicates(rng, manifest, [event])
            continue
        _, state, utilization = timeline[bisect.bisect_right(change_times, t) - 1]
        revision = _revision_at(rng, deploys[name], t)
        service_laws = laws[name]
        if regressed and revision == regressed[1]:
            service_laws = regressed[2]
        manifest.services[name]["startups"] += 1
        yield from _with_duplicates(
            rng,
            manifest,
            _startup(writers[name], spec, t, revision, state, utilization, service_laws),
        )


def _regressed_revision(
    fleet: FleetSpec, deploys: dict[str, list[tuple[datetime, str]]], manifest: FleetManifest
) -> tuple[str, str, dict[str, DurationLaw]] | None:
    regression = fleet.regression
    if regression is None:
        return None
    revisions = deploys[regression.service]
    if len(revisions) < 2:
        raise AnalyzerError(
            f"--regression {regression.service}: no revision of it is deployed within the "
            f"window; lengthen --days or shorten --deploy-every"
        )
    service = next(s for s in fleet.services if s.name == regression.service)
    revision = revisions[-1][1]
    manifest.regression = {
        "service": regression.service,
        "revision": revision,
        "factor": regression.factor,
        "deployed_at": _rfc3339(revisions[-1][0]),
    }
    return regression.service, revision, service.laws(regression.factor)


def write_fleet_export(fleet: FleetSpec, out: Path) -> FleetManifest:
    """Write the simulated fleet's export to `out`, shaped by its name as `write_export`."""
    spec = fleet.spec
    manifest = FleetManifest(
        env=spec.env, form=spec.form, start=_rfc3339(spec.start), end=_rfc3339(spec.end)
    )
    write_entries(simulate_fleet_entries(fleet, manifest), out)
    return manifest


__all__ = [
    "KNOWN_SERVICES",
    "FleetManifest",
    "FleetService",
    "FleetSpec",
    "Regression",
    "cloud_run_name",
    "parse_regression",
    "parse_services",
    "simulate_fleet_entries",
    "write_fleet_export",
]
