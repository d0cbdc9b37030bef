"""A circuit breaker for a startup dependency: consecutive failures, monotonic clock, bounded
half-open probes that are given back or time out, safe under threads and asyncio."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from analyzer.runtime.schema import (
    MAX_RECOVERY_TIMEOUT_S,
    BreakerSettings,
    _integer,
    _number,
)

logger = logging.getLogger(__name__)
# Counts are integers however large; the config caps them lower (schema.MAX_FAILURE_THRESHOLD).
MAX_COUNT = 2**31 - 1
DEFAULT_HALF_OPEN_WAIT_S = 300.0

TYPE_CHECKING = False  # typing costs the service's startup ~10 ms; only checkers need it
if TYPE_CHECKING:
    from typing import Any


class BreakerState(enum.StrEnum):
    """Compares equal to its name, as the seed's code expects (`state == "OPEN"`)."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


TransitionHook = Callable[[BreakerState, BreakerState], None]


class CircuitBreaker:
    """CLOSED: calls go through; `failure_threshold` failures in a row open it.
    OPEN: calls are refused until `recovery_timeout_s` have passed since it opened.
    HALF_OPEN: at most `half_open_max_calls` probes go through; a success closes it, a failure
    opens it again at once. A probe whose outcome will never come (its task was cancelled)
    gives its slot back with `release_probe()`; and a half-open period in which no outcome
    arrives for `max_half_open_wait_s` opens it again, so stranded slots never keep it
    half-open for good (default: the recovery time, at least 300 s, longer than any call of a
    startup may take under Cloud Run's 240 s limit, so a slow probe still gets to report).

    Every method holds one lock for a few field updates and never blocks otherwise, so it is
    safe from threads and from asyncio tasks alike. `on_transition` is called after the lock
    is released; an exception it raises is logged, never passed to the caller (whose probe
    slot it would strand).

    Settings are checked by the config's own rules: whole numbers (not True, not 2.5) of at
    least 1, a finite recovery time of at most a day; anything else is a ValueError naming it.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_timeout_s: float = 30.0,
        half_open_max_calls: int = 1,
        clock: Callable[[], float] = time.monotonic,
        on_transition: TransitionHook | None = None,
        max_half_open_wait_s: float | None = None,
    ) -> None:
        self._check(failure_threshold, recovery_timeout_s, half_open_max_calls)
        if max_half_open_wait_s is not None:
            _number(
                max_half_open_wait_s,
                "max_half_open_wait_s",
                low=0.0,
                high=MAX_RECOVERY_TIMEOUT_S,
            )
        self.failure_threshold = failure_threshold
        self.recovery_timeout_s = float(recovery_timeout_s)
        self.half_open_max_calls = half_open_max_calls
        self.max_half_open_wait_s = max_half_open_wait_s
        self._clock = clock
        self._on_transition = on_transition
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._half_open_since = 0.0
        self._probes = 0
        self._last_failure_wall: datetime | None = None

    @staticmethod
    def _check(failure_threshold: Any, recovery_timeout_s: Any, half_open_max_calls: Any) -> None:
        _integer(failure_threshold, "failure_threshold", low=1, high=MAX_COUNT)
        _number(
            recovery_timeout_s,
            "recovery_timeout_s",
            low=0.0,
            high=MAX_RECOVERY_TIMEOUT_S,
            low_open=False,
        )
        _integer(half_open_max_calls, "half_open_max_calls", low=1, high=MAX_COUNT)

    @property
    def half_open_wait_s(self) -> float:
        """How long a half-open period may pass without an outcome before it opens again."""
        if self.max_half_open_wait_s is not None:
            return self.max_half_open_wait_s
        return max(self.recovery_timeout_s, DEFAULT_HALF_OPEN_WAIT_S)

    @property
    def state(self) -> BreakerState:
        with self._lock:
            before = self._state
            self._expire_half_open()
            after = self._state
        self._notify(before, after)
        return after

    def update_settings(self, settings: BreakerSettings) -> None:
        """New settings (a reloaded config) without forgetting the current state."""
        self._check(
            settings.failure_threshold, settings.recovery_timeout_s, settings.half_open_max_calls
        )
        with self._lock:
            self.failure_threshold = settings.failure_threshold
            self.recovery_timeout_s = settings.recovery_timeout_s
            self.half_open_max_calls = settings.half_open_max_calls

    def should_attempt_request(self) -> bool:
        """May a call go through now? In HALF_OPEN each True takes one of the probe slots."""
        with self._lock:
            before = self._state
            allowed = self._admit()
            after = self._state
        self._notify(before, after)
        return allowed

    def release_probe(self) -> None:
        """Give back a slot taken by `should_attempt_request` for a call that will report no
        outcome (cancelled, or never made). Outside HALF_OPEN it does nothing."""
        with self._lock:
            if self._state is BreakerState.HALF_OPEN and self._probes > 0:
                self._probes -= 1

    def record_success(self) -> None:
        with self._lock:
            before = self._state
            if self._state is BreakerState.HALF_OPEN:
                self._state = BreakerState.CLOSED
                self._probes = 0
            if self._state is BreakerState.CLOSED:
                self._failures = 0
            # A success while OPEN is a call that began before it opened: stale news.
            after = self._state
        self._notify(before, after)

    def record_failure(self, error: BaseException | None = None) -> None:
        with self._lock:
            before = self._state
            self._last_failure_wall = datetime.now(UTC)
            if self._state is BreakerState.HALF_OPEN:
                self._open()
            elif self._state is BreakerState.CLOSED:
                self._failures += 1
                if self._failures >= self.failure_threshold:
                    self._open()
            after = self._state
        self._notify(before, after)

    def get_status(self) -> dict[str, Any]:
        """A snapshot for monitoring (it takes no probe slot)."""
        with self._lock:
            before = self._state
            self._expire_half_open()
            status = {
                "state": self._state.value,
                "failure_count": self._failures,
                "last_failure_time": (
                    self._last_failure_wall.isoformat() if self._last_failure_wall else None
                ),
                "failure_threshold": self.failure_threshold,
                "timeout_seconds": self.recovery_timeout_s,
                "half_open_max_calls": self.half_open_max_calls,
                "half_open_probes_in_flight": self._probes,
                "ready_for_request": self._would_admit(),
            }
            after = self._state
        self._notify(before, after)
        return status

    def _expire_half_open(self) -> None:
        """A half-open period with no outcome for `half_open_wait_s`: its probes are taken as
        lost, and the breaker opens again (resilience4j's maximum wait in half-open)."""
        if (
            self._state is BreakerState.HALF_OPEN
            and self._clock() - self._half_open_since >= self.half_open_wait_s
        ):
            self._open()

    def _admit(self) -> bool:
        self._expire_half_open()
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self.recovery_timeout_s:
                return False
            self._state = BreakerState.HALF_OPEN
            self._half_open_since = self._clock()
            self._probes = 0
        if self._probes < self.half_open_max_calls:
            self._probes += 1
            return True
        return False

    def _would_admit(self) -> bool:
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            return self._clock() - self._opened_at >= self.recovery_timeout_s
        return self._probes < self.half_open_max_calls

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._probes = 0

    def _notify(self, before: BreakerState, after: BreakerState) -> None:
        if before is not after and self._on_transition is not None:
            try:
                self._on_transition(before, after)
            except Exception:
                logger.exception("circuit breaker transition hook failed (%s -> %s)", before, after)
