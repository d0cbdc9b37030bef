"""The sample-data generator: Cloud Logging exports of SMD startups drawn from known laws.

The story it tells is the seed's: phase 3 (database) initialisation takes a lognormal time whose
median depends on the VPC connector's state; under `pressure` it is far longer than in quiet
hours. For the first half of the window the phase-3 timeout is a static 20 s, which fails most
pressure-state startups (exit code 3); from the middle on it is 75 s. Every number comes from
`PHASE3_LAWS` and the other constants below, so tests can compare estimates with the truth.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import NormalDist
from typing import IO, Any, Literal

import numpy as np
from numpy.typing import NDArray

from analyzer.errors import AnalyzerError
from analyzer.runtime.telemetry import structured_payload, text_line

Form = Literal["structured", "text"]


@dataclass(frozen=True)
class DurationLaw:
    """A lognormal duration: median `median_s`, log-scale spread `sigma`."""

    median_s: float
    sigma: float

    def quantile(self, q: float) -> float:
        return self.median_s * math.exp(self.sigma * NormalDist().inv_cdf(q))

    def survival(self, t: float) -> float:
        """P(duration > t)."""
        if t <= 0:
            return 1.0
        return 1.0 - NormalDist().cdf(math.log(t / self.median_s) / self.sigma)

    def draw(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.median_s), self.sigma)

    def sample(self, gen: np.random.Generator, n: int) -> NDArray[np.float64]:
        return gen.lognormal(math.log(self.median_s), self.sigma, n)


@dataclass(frozen=True)
class WeibullLaw:
    """A Weibull duration: P(duration > t) = exp(-(t / scale_s) ** shape)."""

    scale_s: float
    shape: float

    @property
    def median_s(self) -> float:
        return self.quantile(0.5)

    def quantile(self, q: float) -> float:
        return float(self.scale_s * (-math.log1p(-q)) ** (1.0 / self.shape))

    def survival(self, t: float) -> float:
        return math.exp(-((max(t, 0.0) / self.scale_s) ** self.shape))

    def draw(self, rng: random.Random) -> float:
        return rng.weibullvariate(self.scale_s, self.shape)

    def sample(self, gen: np.random.Generator, n: int) -> NDArray[np.float64]:
        return self.scale_s * gen.weibull(self.shape, n)


@dataclass(frozen=True)
class MixtureLaw:
    """Two populations of attempts: `slow` with probability `slow_share`, else `fast` (a heavy
    tail no single lognormal has)."""

    fast: Law
    slow: Law
    slow_share: float

    @property
    def median_s(self) -> float:
        return self.quantile(0.5)

    def survival(self, t: float) -> float:
        return (1 - self.slow_share) * self.fast.survival(t) + self.slow_share * self.slow.survival(
            t
        )

    def quantile(self, q: float) -> float:
        """Solved by bisection on the survival (monotone), to a relative 1e-10."""
        low = min(self.fast.quantile(q), self.slow.quantile(q))
        high = max(self.fast.quantile(q), self.slow.quantile(q))
        while high - low > 1e-10 * high:
            mid = (low + high) / 2
            low, high = (mid, high) if self.survival(mid) > 1 - q else (low, mid)
        return high

    def draw(self, rng: random.Random) -> float:
        return (self.slow if rng.random() < self.slow_share else self.fast).draw(rng)

    def sample(self, gen: np.random.Generator, n: int) -> NDArray[np.float64]:
        slow = gen.random(n) < self.slow_share
        return np.where(slow, self.slow.sample(gen, n), self.fast.sample(gen, n))


@dataclass(frozen=True)
class ShiftingLaw:
    """`before` until the share `at` of the window has passed, `after` from then on: a
    dependency that got slower (or faster) mid-window. The truth a timeout must meet now is
    `after`."""

    before: Law
    after: Law
    at: float = 0.5

    def law_at(self, fraction: float) -> Law:
        """The law in force a share `fraction` (0 to 1) into the window."""
        return self.before if fraction < self.at else self.after

    @property
    def median_s(self) -> float:
        return self.after.median_s

    def quantile(self, q: float) -> float:
        return self.after.quantile(q)

    def survival(self, t: float) -> float:
        return self.after.survival(t)


Law = DurationLaw | WeibullLaw | MixtureLaw
AnyLaw = Law | ShiftingLaw

LAW_FORMS = (
    "lognormal(MEDIAN_S,SIGMA)",
    "weibull(MEDIAN_S,SHAPE)",
    "mix(FAST,SLOW,SLOW_SHARE)",
    "shift(BEFORE,AFTER,AT)",
)


def parse_law(text: str) -> AnyLaw:
    """A phase-3 law from its text (`LAW_FORMS`): a lognormal or a Weibull by median, a
    mixture of two laws (a share `SLOW_SHARE` from the second), or a law that changes a share
    `AT` (0 to 1) into the window. Example: mix(lognormal(45,0.35),weibull(120,3),0.1)."""
    try:
        law, rest = _law_at(text.replace(" ", ""))
    except (ValueError, IndexError, TypeError, ZeroDivisionError) as exc:
        raise AnalyzerError(f"law {text!r}: {exc}; the forms: {', '.join(LAW_FORMS)}") from exc
    if rest:
        raise AnalyzerError(
            f"law {text!r}: {rest!r} after the law; the forms: {', '.join(LAW_FORMS)}"
        )
    return law


def _law_at(text: str) -> tuple[AnyLaw, str]:
    """The law at the start of `text` and what follows it."""
    name, _, rest = text.partition("(")
    args: list[AnyLaw | float] = []
    while True:
        if rest[:1].isalpha():
            law, rest = _law_at(rest)
            args.append(law)
        else:
            end = min((i for i in (rest.find(","), rest.find(")")) if i >= 0), default=-1)
            if end < 0:
                raise ValueError("a ')' is missing")
            args.append(float(rest[:end]))
            rest = rest[end:]
        mark, rest = rest[0], rest[1:]
        if mark == ")":
            break
    numbers = [a for a in args if isinstance(a, float)]
    laws = [a for a in args if not isinstance(a, float)]
    if name in ("lognormal", "weibull") and len(numbers) == 2 == len(args):
        median, spread = numbers
        if median <= 0 or spread <= 0:
            raise ValueError("a median and a spread above 0")
        if name == "lognormal":
            return DurationLaw(median, spread), rest
        return WeibullLaw(median / math.log(2) ** (1 / spread), spread), rest
    if name in ("mix", "shift") and len(args) == 3 and len(laws) == 2 and args[2] == numbers[0]:
        share = numbers[0]
        if not 0 < share < 1:
            raise ValueError("a share between 0 and 1")
        first, second = laws
        if isinstance(first, ShiftingLaw) or isinstance(second, ShiftingLaw):
            raise ValueError(f"{name}(...) of laws that do not shift")
        if name == "shift":
            return ShiftingLaw(first, second, share), rest
        return MixtureLaw(first, second, share), rest
    raise ValueError(f"not a law: {name}(...) with {len(args)} arguments")


# Phase 3 (database initialisation) by VPC connector state: the truth the estimates must find.
PHASE3_LAWS: dict[str, DurationLaw] = {
    "healthy": DurationLaw(median_s=6.0, sigma=0.35),
    "scaling": DurationLaw(median_s=16.0, sigma=0.40),
    "pressure": DurationLaw(median_s=28.0, sigma=0.35),
    "critical": DurationLaw(median_s=45.0, sigma=0.35),
}
# Chance that a connection error strikes during a phase-3 attempt (if it is still running then).
PHASE3_ERROR_RATE = {"healthy": 0.005, "scaling": 0.02, "pressure": 0.03, "critical": 0.10}
# The other phases are quick and never fail.
OTHER_PHASES = {
    1: ("configuration", DurationLaw(0.4, 0.3)),
    2: ("dependencies", DurationLaw(1.2, 0.3)),
    4: ("cache", DurationLaw(1.5, 0.3)),
    5: ("routes", DurationLaw(0.8, 0.3)),
}
# VPC connector state mix: off-peak hours, and peak hours (13:00-21:59 UTC; with the weekly
# pattern, on weekdays only: the weekend is off-peak all day).
STATE_MIX = {
    "off_peak": {"healthy": 0.85, "scaling": 0.07, "pressure": 0.06, "critical": 0.02},
    "peak": {"healthy": 0.35, "scaling": 0.15, "pressure": 0.40, "critical": 0.10},
}
UTILIZATION = {
    "healthy": (0.20, 0.60),
    "scaling": (0.60, 0.75),
    "pressure": (0.70, 0.88),
    "critical": (0.88, 0.99),
}
STATIC_TIMEOUT_S = 20.0
RAISED_TIMEOUT_S = 75.0
FALLBACK_RATE = 0.10  # share of phase-3 failures where the service goes on degraded
DUPLICATE_RATE = 0.01  # sink exports repeat entries; Google does not remove them
NOISE_LINES = ("Uvicorn running on http://0.0.0.0:8080", "GET /health HTTP/1.1 200 OK")
DEFAULT_START = datetime(2026, 10, 26, tzinfo=UTC)
STARTUPS_PER_HOUR = {"staging": 3.0, "production": 4.0}


@dataclass(frozen=True)
class SimulationSpec:
    env: str
    days: int = 28
    seed: int = 1278
    form: Form = "structured"
    start: datetime = DEFAULT_START
    startups_per_hour: float | None = None
    project: str = "netra-demo"
    # Phase-3 laws by VPC state; None: `PHASE3_LAWS`.
    phase3_laws: dict[str, AnyLaw] | None = None
    # Busy hours on weekdays only (a weekly pattern of strain); off: every day alike.
    weekly_strain: bool = False

    def phase3_law(self, state: str, at: datetime, laws: Mapping[str, AnyLaw] | None = None) -> Law:
        """The phase-3 law of `state` for an attempt starting at `at` (from `laws`, else the
        spec's, else `PHASE3_LAWS`)."""
        law = (laws or self.phase3_laws or PHASE3_LAWS)[state]
        if isinstance(law, ShiftingLaw):
            return law.law_at((at - self.start) / (self.end - self.start))
        return law

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    @property
    def timeout_raised_at(self) -> datetime:
        return self.start + timedelta(days=self.days / 2)


def simulation_spec(
    *,
    env: str,
    days: int,
    seed: int,
    form: str,
    startups_per_hour: float | None,
    startups_per_day: float | None,
    laws: Sequence[str],
    weekly_strain: bool = False,
) -> SimulationSpec:
    """The spec `analyze simulate` asks for: one rate (per hour or per day) and phase-3 laws
    as STATE=LAW texts (`parse_law`) over the sample's."""
    if startups_per_hour is not None and startups_per_day is not None:
        raise AnalyzerError("give one rate: --startups-per-hour or --startups-per-day")
    chosen: dict[str, AnyLaw] = dict(PHASE3_LAWS)
    for text in laws:
        state, sep, law = text.partition("=")
        if not sep or state.strip() not in PHASE3_LAWS:
            raise AnalyzerError(f"--law {text!r}: STATE=LAW, STATE one of {', '.join(PHASE3_LAWS)}")
        chosen[state.strip()] = parse_law(law)
    rate = startups_per_day / 24 if startups_per_day is not None else startups_per_hour
    return SimulationSpec(
        env=env,
        days=days,
        seed=seed,
        form=form,  # type: ignore[arg-type]
        startups_per_hour=rate,
        phase3_laws=chosen if laws else None,
        weekly_strain=weekly_strain,
    )


@dataclass
class SimulationManifest:
    """What the generator wrote: the numbers an import of its output must reproduce."""

    env: str
    form: str
    start: str
    end: str
    entries_written: int = 0
    telemetry_entries: int = 0
    noise_entries: int = 0
    duplicate_entries: int = 0
    duplicate_telemetry_entries: int = 0
    startups: int = 0
    startup_outcomes: dict[str, int] = field(default_factory=dict)
    phase_attempts: int = 0
    phase3_outcomes: dict[str, int] = field(default_factory=dict)
    vpc_state_changes: int = 0


class _Writer:
    """Builds LogEntry objects and counts them into the manifest."""

    def __init__(self, spec: SimulationSpec, rng: random.Random, manifest: SimulationManifest):
        self.spec, self.rng, self.manifest = spec, rng, manifest
        self.service = f"netra-backend-{spec.env}"
        self.log_name = f"projects/{spec.project}/logs/run.googleapis.com%2Fstdout"

    def entry(
        self, ts: datetime, instance: str | None, revision: str, payload: dict[str, Any] | str
    ) -> dict[str, Any]:
        severity = "INFO"
        if isinstance(payload, dict):
            severity = payload.pop("_severity", "INFO")
        entry: dict[str, Any] = {
            "insertId": f"{self.rng.getrandbits(64):016x}",
            "timestamp": _rfc3339(ts),
            "receiveTimestamp": _rfc3339(ts + timedelta(milliseconds=self.rng.randint(50, 900))),
            "severity": severity,
            "logName": self.log_name,
            "resource": {
                "type": "cloud_run_revision",
                "labels": {
                    "service_name": self.service,
                    "revision_name": revision,
                    "location": "us-central1",
                    "project_id": self.spec.project,
                    "configuration_name": self.service,
                },
            },
        }
        if instance:
            entry["labels"] = {"instanceId": instance}
        if isinstance(payload, str):
            entry["textPayload"] = payload
        else:
            entry["jsonPayload"] = payload
        return entry

    def event(
        self,
        ts: datetime,
        instance: str | None,
        revision: str,
        event: str,
        severity: str = "INFO",
        **fields: Any,
    ) -> dict[str, Any]:
        self.manifest.telemetry_entries += 1
        if self.spec.form == "text":
            return self.entry(ts, instance, revision, text_line(event, fields))
        payload = structured_payload(event, {"env": self.spec.env, **fields})
        payload["_severity"] = severity
        return self.entry(ts, instance, revision, payload)

    def noise(self, ts: datetime, instance: str, revision: str, line: str) -> dict[str, Any]:
        self.manifest.noise_entries += 1
        return self.entry(ts, instance, revision, line)


def _rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def is_peak(moment: datetime, *, weekly_strain: bool) -> bool:
    """Whether `moment` (UTC) falls in the connector's busy hours."""
    return 13 <= moment.hour <= 21 and not (weekly_strain and moment.weekday() >= 5)


def _draw_state(rng: random.Random, moment: datetime, weekly_strain: bool) -> str:
    mix = STATE_MIX["peak" if is_peak(moment, weekly_strain=weekly_strain) else "off_peak"]
    return rng.choices(list(mix), weights=list(mix.values()))[0]


def simulate_entries(
    spec: SimulationSpec, manifest: SimulationManifest
) -> Iterator[dict[str, Any]]:
    """Every LogEntry of the window in time order (sink duplicates right after their original)."""
    rng = random.Random(f"{spec.seed}:{spec.env}")
    writer = _Writer(spec, rng, manifest)
    rate = spec.startups_per_hour or STARTUPS_PER_HOUR.get(spec.env, 3.0)
    revision = f"{writer.service}-00001-{rng.randrange(16**3):03x}"
    state, utilization = "healthy", 0.4
    next_state_change = spec.start
    now = spec.start
    while True:
        now += timedelta(hours=rng.expovariate(rate))
        if now >= spec.end:
            break
        while next_state_change <= now:
            new_state = _draw_state(rng, next_state_change, spec.weekly_strain)
            if new_state != state:
                low, high = UTILIZATION[new_state]
                utilization = round(rng.uniform(low, high), 2)
                manifest.vpc_state_changes += 1
                yield from _with_duplicates(
                    rng,
                    manifest,
                    [
                        writer.event(
                            next_state_change,
                            None,
                            revision,
                            "vpc_state_changed",
                            from_state=state,
                            to_state=new_state,
                            vpc_state=new_state,
                            vpc_utilization=utilization,
                        )
                    ],
                )
                state = new_state
            next_state_change += timedelta(minutes=rng.uniform(30, 90))
        if rng.random() < 0.01:  # now and then a new revision is deployed
            revision = f"{writer.service}-{rng.randrange(2, 999):05d}-{rng.randrange(16**3):03x}"
        yield from _with_duplicates(
            rng, manifest, _startup(writer, spec, now, revision, state, utilization)
        )


def _with_duplicates(
    rng: random.Random, manifest: SimulationManifest, entries: list[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    for entry in entries:
        manifest.entries_written += 1
        yield entry
        if rng.random() < DUPLICATE_RATE:
            manifest.entries_written += 1
            manifest.duplicate_entries += 1
            if entry.get("textPayload") not in NOISE_LINES:
                manifest.duplicate_telemetry_entries += 1
            yield entry


def _startup(
    writer: _Writer,
    spec: SimulationSpec,
    t0: datetime,
    revision: str,
    state: str,
    utilization: float,
    laws: Mapping[str, AnyLaw] | None = None,
) -> list[dict[str, Any]]:
    rng, manifest = writer.rng, writer.manifest
    instance = f"{rng.getrandbits(128):032x}"
    out: list[dict[str, Any]] = [writer.noise(t0, instance, revision, NOISE_LINES[0])]

    def emit(t: datetime, event: str, severity: str = "INFO", **fields: Any) -> None:
        out.append(writer.event(t, instance, revision, event, severity, **fields))

    emit(t0, "startup_started")
    manifest.startups += 1
    t = t0 + timedelta(milliseconds=rng.randint(5, 50))
    outcome = "completed"
    for phase in range(1, 6):
        manifest.phase_attempts += 1
        if phase != 3:
            name, law = OTHER_PHASES[phase]
            duration = law.draw(rng)
            emit(t, "phase_started", phase=phase, phase_name=name)
            t += timedelta(seconds=duration)
            emit(t, "phase_completed", phase=phase, phase_name=name, duration_s=round(duration, 6))
            continue
        timeout = STATIC_TIMEOUT_S if t0 < spec.timeout_raised_at else RAISED_TIMEOUT_S
        result, waited = _phase3_attempt(rng, spec.phase3_law(state, t0, laws), state, timeout)
        manifest.phase3_outcomes[result] = manifest.phase3_outcomes.get(result, 0) + 1
        common: dict[str, Any] = {
            "phase": 3,
            "phase_name": "database",
            "operation": "initialization",
            "vpc_state": state,
            "vpc_utilization": utilization,
            "timeout_s": timeout,
        }
        emit(t, "phase_started", **common)
        emit(t, "timeout_calculated", base_timeout_s=timeout, vpc_aware_timeout_s=timeout, **common)
        t += timedelta(seconds=waited)
        if result == "completed":
            emit(t, "phase_completed", duration_s=round(waited, 6), **common)
            continue
        failure: dict[str, Any] = {"outcome": result, "duration_s": round(waited, 6)}
        if result == "error":
            failure["error_type"] = "OperationalError"
            failure["error"] = "connection to Cloud SQL instance refused: too many connections"
        emit(t, "phase_failed", "ERROR", **common, **failure)
        t += timedelta(milliseconds=1)
        emit(t, "phase_context", "ERROR", vpc_state=state, breaker_state="CLOSED")
        if rng.random() < FALLBACK_RATE:
            emit(t, "degradation_applied", "WARNING", phase=3, fallback_applied=True)
            outcome = "degraded"
            continue
        emit(t, "startup_failed", "ERROR", exit_code=3)
        outcome = "failed"
        break
    if outcome != "failed":
        emit(t, "startup_completed")
        out.append(writer.noise(t, instance, revision, NOISE_LINES[1]))
    manifest.startup_outcomes[outcome] = manifest.startup_outcomes.get(outcome, 0) + 1
    return out


def _phase3_attempt(rng: random.Random, law: Law, state: str, timeout: float) -> tuple[str, float]:
    """How one phase-3 attempt ends under `timeout`, and the seconds it ran. A connection error,
    when one comes, strikes at a time independent of how long the attempt would have taken
    (uniform up to twice the state's median), so it censors the duration without bias."""
    duration = law.draw(rng)
    if rng.random() < PHASE3_ERROR_RATE[state]:
        strikes_at = rng.uniform(0.0, 2.0 * law.median_s)
        if strikes_at < min(duration, timeout):
            return "error", strikes_at
    return ("completed", duration) if duration <= timeout else ("timeout", timeout)


@dataclass(frozen=True)
class DrawnAttempts:
    """Phase attempts of one state drawn straight from a law (no log entries): the input of
    `analyzer.analysis.estimate.estimate_durations`, many seeds a second."""

    duration_s: NDArray[np.float64]  # the duration, or how long it ran before it was cut
    observed: NDArray[np.bool_]  # completed; else cut by the timeout or an error
    started_s: NDArray[np.float64]  # seconds from the window's start, ascending
    window_s: float


def draw_attempts(
    law: AnyLaw,
    n: int,
    gen: np.random.Generator,
    *,
    timeouts_s: tuple[float, ...] = (STATIC_TIMEOUT_S, RAISED_TIMEOUT_S),
    error_rate: float = 0.03,
    days: float = 28.0,
) -> DrawnAttempts:
    """`n` attempts started uniformly over `days`; the window is cut into equal parts, one per
    timeout in `timeouts_s`, each in force in its part (the sample's story: 20 s, then 75 s).
    A connection error strikes a share `error_rate` at a time uniform up to twice the median,
    independent of the duration, as in the export generator."""
    window_s = days * 86400.0
    started = np.sort(gen.uniform(0.0, window_s, n))
    return _attempts_started(law, started, window_s, gen, timeouts_s, error_rate)


def _attempts_started(
    law: AnyLaw,
    started: NDArray[np.float64],
    window_s: float,
    gen: np.random.Generator,
    timeouts_s: tuple[float, ...],
    error_rate: float,
) -> DrawnAttempts:
    """Attempts of `law` started at `started` (ascending seconds into the window)."""
    n = started.size
    fraction = started / window_s
    if isinstance(law, ShiftingLaw):
        late = fraction >= law.at
        truth = np.where(late, law.after.sample(gen, n), law.before.sample(gen, n))
        median = np.where(late, law.after.median_s, law.before.median_s)
    else:
        truth, median = law.sample(gen, n), np.full(n, law.median_s)
    part = np.minimum((fraction * len(timeouts_s)).astype(np.intp), len(timeouts_s) - 1)
    cut = np.asarray(timeouts_s, dtype=np.float64)[part]
    strikes = np.where(gen.random(n) < error_rate, gen.uniform(0.0, 2.0, n) * median, np.inf)
    stop = np.minimum(cut, strikes)
    return DrawnAttempts(
        duration_s=np.minimum(truth, stop),
        observed=truth <= stop,
        started_s=started,
        window_s=window_s,
    )


def draw_state_attempts(
    laws: Mapping[str, AnyLaw],
    startups_per_day: float,
    gen: np.random.Generator,
    *,
    timeouts_s: tuple[float, ...] = (STATIC_TIMEOUT_S, RAISED_TIMEOUT_S),
    days: float = 28.0,
) -> dict[str, DrawnAttempts]:
    """The phase-3 attempts of a window of startups, by VPC state: startups at random
    (Poisson, `startups_per_day`) from midnight UTC, each in a state drawn from the hour's
    mix (`STATE_MIX`: peak 13:00-21:59), its duration from that state's law in `laws`
    (`PHASE3_LAWS` for a state it lacks), struck by errors at the state's rate
    (`PHASE3_ERROR_RATE`), cut by the timeout in force (`timeouts_s`, as in `draw_attempts`).
    A state no startup drew is left out."""
    window_s = days * 86400.0
    started = np.sort(gen.uniform(0.0, window_s, gen.poisson(startups_per_day * days)))
    peak = (started // 3600 % 24 >= 13) & (started // 3600 % 24 <= 21)
    states = list(STATE_MIX["peak"])
    chance = np.where(
        peak[:, None],
        np.array([STATE_MIX["peak"][s] for s in states]),
        np.array([STATE_MIX["off_peak"][s] for s in states]),
    )
    above = gen.random(started.size)[:, None] > np.cumsum(chance, axis=1)
    drawn = np.minimum(above.sum(axis=1), len(states) - 1)
    found = {}
    for index, state in enumerate(states):
        mine = started[drawn == index]
        if mine.size:
            law = laws.get(state, PHASE3_LAWS[state])
            found[state] = _attempts_started(
                law, mine, window_s, gen, timeouts_s, PHASE3_ERROR_RATE[state]
            )
    return found


def draw_vpc_timeline(
    gen: np.random.Generator,
    *,
    quiet: Law,
    episode: Law,
    critical_share: float = 0.3,
    days: float = 28.0,
) -> list[tuple[float, str]]:
    """A VPC connector timeline from known laws: healthy spells of `quiet` seconds alternate
    with strained episodes of `episode` seconds, each `critical` with probability
    `critical_share`, else `pressure`. Entries are (seconds from the window's start, state in
    force from then), oldest first, the first at 0 (healthy); an episode may outlast the
    window (the truth its censored estimate must find is `episode`)."""
    window_s = days * 86400.0
    timeline, at = [(0.0, "healthy")], 0.0
    while True:
        at += float(quiet.sample(gen, 1)[0])
        if at >= window_s:
            return timeline
        timeline.append((at, "critical" if gen.random() < critical_share else "pressure"))
        at += float(episode.sample(gen, 1)[0])
        if at >= window_s:
            return timeline
        timeline.append((at, "healthy"))


def draw_state_timeline(
    gen: np.random.Generator,
    *,
    days: float = 28.0,
    start: datetime = DEFAULT_START,
    weekly_strain: bool = True,
) -> list[tuple[float, str]]:
    """A VPC connector timeline drawn as the export generator draws it (a state from
    `STATE_MIX` every 30 to 90 minutes, busy in peak hours: weekdays only with
    `weekly_strain`), without the startups: (seconds from `start`, state in force from then),
    oldest first, the first at 0."""
    window_s = days * 86400.0
    timeline: list[tuple[float, str]] = []
    at = 0.0
    while at < window_s:
        peak = is_peak(start + timedelta(seconds=at), weekly_strain=weekly_strain)
        mix = STATE_MIX["peak" if peak else "off_peak"]
        state = str(gen.choice(list(mix), p=list(mix.values())))
        if not timeline or timeline[-1][1] != state:
            timeline.append((at, state))
        at += float(gen.uniform(30, 90)) * 60.0
    return timeline


def write_export(spec: SimulationSpec, out: Path) -> SimulationManifest:
    """Write the simulated export to `out`, shaped by its name (see `export_shape`)."""
    manifest = SimulationManifest(
        env=spec.env, form=spec.form, start=_rfc3339(spec.start), end=_rfc3339(spec.end)
    )
    write_entries(simulate_entries(spec, manifest), out)
    return manifest


def write_entries(entries: Iterator[dict[str, Any]], out: Path) -> None:
    """Write LogEntry objects to `out`, shaped by its name (see `export_shape`)."""
    shape = export_shape(out)
    if shape == "sink-folder":
        _write_sink_folder(entries, out)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        with _open_for_write(out) as stream:
            if shape == "gcloud-array":
                _write_array(entries, stream)
            else:
                for entry in entries:
                    stream.write(json.dumps(entry, separators=(",", ":")) + "\n")


def export_shape(out: Path) -> str:
    """`.json` is a gcloud array; `.jsonl`/`.ndjson` (optionally `.gz`) and `.json.gz` are
    newline-delimited; a path without a suffix is a Log Router sink folder."""
    name = out.name
    if name.endswith((".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz", ".json.gz")):
        return "ndjson"
    if name.endswith(".json"):
        return "gcloud-array"
    if out.suffix == "" or out.is_dir():
        return "sink-folder"
    raise AnalyzerError(
        f"{out}: cannot tell the export shape from the name; use .json (gcloud array), "
        ".jsonl or .jsonl.gz (sink lines), or a folder"
    )


def _open_for_write(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        # mtime=0: the same seed gives the same bytes.
        raw = gzip.GzipFile(filename="", mode="wb", fileobj=path.open("wb"), mtime=0)
        return io.TextIOWrapper(raw, encoding="utf-8")
    return path.open("w", encoding="utf-8")


def _write_array(entries: Iterator[dict[str, Any]], stream: IO[str]) -> None:
    stream.write("[\n")
    for index, entry in enumerate(entries):
        stream.write((",\n" if index else "") + json.dumps(entry, indent=2))
    stream.write("\n]\n")


def _write_sink_folder(entries: Iterator[dict[str, Any]], root: Path) -> None:
    """One NDJSON file per hour, as a Cloud Storage sink lays them out."""
    current: Path | None = None
    stream: IO[str] | None = None
    try:
        for entry in entries:
            ts = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00"))
            hour = ts.strftime("%H")
            path = (
                root
                / "run.googleapis.com"
                / "stdout"
                / ts.strftime("%Y/%m/%d")
                / (f"{hour}:00:00_{hour}:59:59_S0.json")
            )
            if path != current:
                if stream:
                    stream.close()
                path.parent.mkdir(parents=True, exist_ok=True)
                stream = path.open("a", encoding="utf-8")
                current = path
            assert stream is not None
            stream.write(json.dumps(entry, separators=(",", ":")) + "\n")
    finally:
        if stream:
            stream.close()


def manifest_counts(manifest: SimulationManifest) -> dict[str, Any]:
    """The manifest as plain data (for JSON output)."""
    return asdict(manifest)


__all__ = [
    "PHASE3_LAWS",
    "DrawnAttempts",
    "DurationLaw",
    "MixtureLaw",
    "ShiftingLaw",
    "SimulationManifest",
    "SimulationSpec",
    "WeibullLaw",
    "draw_attempts",
    "draw_state_timeline",
    "draw_vpc_timeline",
    "is_peak",
    "manifest_counts",
    "simulate_entries",
    "write_export",
]


def sample_dir() -> Path:
    """The bundled sample exports (one folder per env): the installed package's data (the
    wheel carries `data/sample/` as `analyzer/data/sample/`), else a source checkout's
    `data/sample/`, else `./data/sample`."""
    package = Path(__file__).resolve().parent
    for here in (package / "data" / "sample", package.parent / "data" / "sample"):
        if here.is_dir():
            return here
    return Path("data") / "sample"
