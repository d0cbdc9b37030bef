"""A circuit breaker for a startup dependency: consecutive failures, monotonic clock, bounded
half-open probes, safe under threads and asyncio."""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from analyzer.runtime.schema import BreakerSettings

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
    opens it again at once.

    Every method holds one lock for a few field updates and never blocks otherwise, so it is
    safe from threads and from asyncio tasks alike. `on_transition` is called after the lock
    is released.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_timeout_s: float = 30.0,
        half_open_max_calls: int = 1,
        clock: Callable[[], float] = time.monotonic,
        on_transition: TransitionHook | None = None,
    ) -> None:
        if failure_threshold < 1 or half_open_max_calls < 1 or not recovery_timeout_s >= 0:
            raise ValueError(
                "failure_threshold and half_open_max_calls must be >= 1, recovery_timeout_s >= 0"
            )
        self.failure_threshold = failure_threshold
        self.recovery_timeout_s = recovery_timeout_s
        self.half_open_max_calls = half_open_max_calls
        self._clock = clock
        self._on_transition = on_transition
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probes = 0
        self._last_failure_wall: datetime | None = None

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state

    def update_settings(self, settings: BreakerSettings) -> None:
        """New settings (a reloaded config) without forgetting the current state."""
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
            return {
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

    def _admit(self) -> bool:
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self.recovery_timeout_s:
                return False
            self._state = BreakerState.HALF_OPEN
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
            self._on_transition(before, after)
