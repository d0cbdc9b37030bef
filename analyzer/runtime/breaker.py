"""A circuit breaker for the service's database calls over the whole life of the process:
consecutive failures (the default) or failure and slow-call rates over a sliding window, a
monotonic clock, bounded half-open probes that are given back or time out, an OPEN wait that
may back off, and summaries of what it saw; safe under threads and asyncio."""

from __future__ import annotations

import atexit
import enum
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime

from analyzer.runtime.breaker_calls import CallGuard, CircuitOpenError, protected
from analyzer.runtime.breaker_summary import CallTally, SummaryTimer
from analyzer.runtime.schema import (
    BREAKER_DEFAULTS,
    MAX_RECOVERY_TIMEOUT_S,
    BreakerSettings,
    _number,
    check_breaker_counts,
    check_breaker_options,
)
from analyzer.runtime.window import Window, new_window

logger = logging.getLogger(__name__)
DEFAULT_HALF_OPEN_WAIT_S = 300.0
DEFAULT_OPERATION = "initialization"  # the contract's default operation
UNKNOWN_STATE = "unknown"

TYPE_CHECKING = False  # typing costs the service's startup ~10 ms; only checkers need it
if TYPE_CHECKING:
    from typing import Any

__all__ = ["BreakerState", "CallGuard", "CircuitBreaker", "CircuitOpenError"]

# Every breaker of the process, so a forked child can start each one's tally afresh.
_BREAKERS: weakref.WeakSet[CircuitBreaker] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for breaker in list(_BREAKERS):
        breaker._forked()


if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


class BreakerState(enum.StrEnum):
    """Compares equal to its name, as the seed's code expects (`state == "OPEN"`)."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


TransitionHook = Callable[[BreakerState, BreakerState], None]
SummaryHook = Callable[[list[dict[str, "Any"]]], None]
VpcStateProvider = Callable[[], "str | None"]
TimeoutProvider = Callable[[str, str], "float | None"]


class CircuitBreaker:
    """Two modes, one state machine.

    `mode="consecutive"` (the default, the seed's): in CLOSED `failure_threshold` failures in a
    row open it; in HALF_OPEN a success closes it and a failure opens it again.

    `mode="rate"` (resilience4j's): CLOSED keeps a sliding window of outcomes, the last
    `window_calls` calls or, with `window_s`, the calls of the last `window_s` seconds; once it
    holds `minimum_calls` (at most the count window's size), a failure rate at or over
    `failure_rate_threshold`, or a slow-call rate at or over `slow_call_rate_threshold` (1.0:
    off), opens it. A call is slow when it took longer than `slow_call_s`, else than the timeout
    it ran under (the caller's `timeout_s`, else `timeout_provider(operation, vpc_state)`). In
    HALF_OPEN the outcomes of the `half_open_max_calls` probes decide by the same thresholds.

    Both modes: OPEN refuses calls for the OPEN wait, `recovery_timeout_s` at first and, each
    time a half-open period fails, `backoff_multiplier` times the last wait, at most
    `max_recovery_timeout_s`; closing starts over. HALF_OPEN admits at most
    `half_open_max_calls` probes; a probe whose outcome will never come (its task was
    cancelled) gives its slot back with `release_probe(permit)`, and only a call that took a
    slot of the current half-open period can give one back; a half-open period in which no
    outcome arrives for `max_half_open_wait_s` ends at that deadline and opens it again, the
    OPEN wait counting from the deadline (default: the recovery time, at least 300 s, longer
    than any call of a startup may take under Cloud Run's 240 s limit).

    `calling()` (a context manager, sync or async) and `protect` (a decorator) wrap any call
    and record its duration and outcome; `should_attempt_request`, `record_success` and
    `record_failure` are the seed's lower-level calls. Every call is also counted per
    (operation, VPC state) for `breaker_summary` events: with `on_summary` set, a summary goes
    to it every `summary_every_s` (a daemon timer started by the first call, never at import)
    and at `close()`, which also runs at interpreter exit.

    Every method holds one lock for a few field updates and never blocks otherwise, so it is
    safe from threads and from asyncio tasks alike. Hooks (`on_transition`, `on_summary`, the
    providers) are called outside the lock; an exception they raise is logged, never passed to
    the caller (whose probe slot it would strand).

    Settings are checked by the config's own rules (schema.py): whole numbers (not True, not
    2.5) of at least 1, finite times within their bounds, rates in (0, 1]; anything else is a
    ValueError naming it.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_timeout_s: float = 30.0,
        half_open_max_calls: int = 1,
        clock: Callable[[], float] = time.monotonic,
        on_transition: TransitionHook | None = None,
        max_half_open_wait_s: float | None = None,
        *,
        mode: str = "consecutive",
        window_calls: int = 20,
        window_s: float | None = None,
        minimum_calls: int = 10,
        failure_rate_threshold: float = 0.5,
        slow_call_rate_threshold: float = 1.0,
        slow_call_s: float | None = None,
        backoff_multiplier: float = 1.0,
        max_recovery_timeout_s: float | None = None,
        summary_every_s: float | None = 60.0,
        on_summary: SummaryHook | None = None,
        vpc_state_provider: VpcStateProvider | None = None,
        timeout_provider: TimeoutProvider | None = None,
    ) -> None:
        settings = BreakerSettings(
            failure_threshold,
            recovery_timeout_s,
            half_open_max_calls,
            mode=mode,
            window_calls=window_calls,
            window_s=window_s,
            minimum_calls=minimum_calls,
            failure_rate_threshold=failure_rate_threshold,
            slow_call_rate_threshold=slow_call_rate_threshold,
            slow_call_s=slow_call_s,
            backoff_multiplier=backoff_multiplier,
            max_recovery_timeout_s=max_recovery_timeout_s,
            max_half_open_s=max_half_open_wait_s,
            summary_every_s=summary_every_s,
        )
        self._check(settings, half_open_name="max_half_open_wait_s")
        self._clock = clock
        self._on_transition = on_transition
        self._on_summary = on_summary
        self._vpc_state_provider = vpc_state_provider
        self._timeout_provider = timeout_provider
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._half_open_since = 0.0
        self._episode = 0  # the number of the current (or last) half-open period
        self._probes = 0
        self._probe_outcomes = [0, 0, 0]  # calls, failures, slow calls of this half-open period
        self._rejected = 0
        self._last_failure_wall: datetime | None = None
        self._tally = CallTally(clock())
        self._timer: SummaryTimer | None = None
        self._closed = False
        self._apply(settings)
        _BREAKERS.add(self)

    @classmethod
    def from_settings(cls, settings: BreakerSettings, **hooks: Any) -> CircuitBreaker:
        """A breaker with a config's settings; `hooks` are the keyword arguments that are not
        settings (clock, on_transition, on_summary, vpc_state_provider, timeout_provider)."""
        return cls(
            settings.failure_threshold,
            settings.recovery_timeout_s,
            settings.half_open_max_calls,
            max_half_open_wait_s=settings.max_half_open_s,
            **{n: getattr(settings, n) for n in BREAKER_DEFAULTS if n != "max_half_open_s"},
            **hooks,
        )

    @staticmethod
    def _check(settings: BreakerSettings, *, half_open_name: str = "max_half_open_s") -> None:
        """A config's rules (runtime/schema.py), whether the settings came from one or not."""
        check_breaker_counts(
            settings.failure_threshold, settings.recovery_timeout_s, settings.half_open_max_calls
        )
        if settings.max_half_open_s is not None:
            _number(settings.max_half_open_s, half_open_name, low=0.0, high=MAX_RECOVERY_TIMEOUT_S)
        options = {name: getattr(settings, name) for name in BREAKER_DEFAULTS}
        options["max_half_open_s"] = None  # checked above, under the caller's name for it
        check_breaker_options(options, float(settings.recovery_timeout_s))

    def _apply(self, settings: BreakerSettings) -> None:
        """Take checked settings (under the lock, or before the breaker is shared)."""
        window_changed = (
            getattr(self, "mode", None) != settings.mode
            or getattr(self, "window_calls", None) != settings.window_calls
            or getattr(self, "window_s", None) != settings.window_s
        )
        self.failure_threshold = settings.failure_threshold
        self.recovery_timeout_s = float(settings.recovery_timeout_s)
        self.half_open_max_calls = settings.half_open_max_calls
        self.max_half_open_wait_s = settings.max_half_open_s
        self.mode = settings.mode
        self.window_calls = settings.window_calls
        self.window_s = settings.window_s
        self.minimum_calls = settings.minimum_calls
        self.failure_rate_threshold = settings.failure_rate_threshold
        self.slow_call_rate_threshold = settings.slow_call_rate_threshold
        self.slow_call_s = settings.slow_call_s
        self.backoff_multiplier = settings.backoff_multiplier
        self.max_recovery_timeout_s = settings.max_recovery_timeout_s
        self.summary_every_s = settings.summary_every_s
        if window_changed:
            self._window: Window = new_window(self.window_calls, self.window_s)
        self._open_wait_s = self.recovery_timeout_s  # backoff starts over at the new wait

    @property
    def half_open_wait_s(self) -> float:
        """How long a half-open period may pass without an outcome before it opens again."""
        if self.max_half_open_wait_s is not None:
            return self.max_half_open_wait_s
        return max(self.recovery_timeout_s, DEFAULT_HALF_OPEN_WAIT_S)

    @property
    def open_wait_s(self) -> float:
        """How long OPEN refuses calls this time (the recovery time, backed off)."""
        return self._open_wait_s

    def now(self) -> float:
        """The breaker's clock (monotonic seconds)."""
        return self._clock()

    @property
    def state(self) -> BreakerState:
        with self._lock:
            before = self._state
            self._expire_half_open()
            after = self._state
        self._notify(before, after)
        return after

    def update_settings(self, settings: BreakerSettings) -> None:
        """New settings (a reloaded config) without forgetting the current state; a new mode or
        window starts an empty window. Bad settings are refused and change nothing."""
        self._check(settings)
        with self._lock:
            self._apply(settings)
            timer = self._timer
            if timer is not None and timer.every_s != self.summary_every_s:
                self._timer = None  # the next call starts one at the new period
            else:
                timer = None
        if timer is not None:
            timer.stop()

    # --- admission -------------------------------------------------------------------------

    def should_attempt_request(
        self, *, operation: str | None = None, vpc_state: str | None = None
    ) -> bool:
        """May a call go through now? In HALF_OPEN each True takes one of the probe slots. A
        refusal is counted for the summary under the call's operation and VPC state."""
        return self._permit(operation, vpc_state) is not None

    def acquire(self, *, operation: str | None = None, vpc_state: str | None = None) -> int:
        """Admission or CircuitOpenError (with how long OPEN still refuses calls). Returns
        the call's permit for `release_probe`: the number of the half-open period whose probe
        slot it took, 0 when it took none (admitted while CLOSED)."""
        permit = self._permit(operation, vpc_state)
        if permit is None:
            with self._lock:
                state = self._state
                left = self._opened_at + self._open_wait_s - self._clock()
            raise CircuitOpenError(
                state.value, max(0.0, left) if state is BreakerState.OPEN else None
            )
        return permit

    def _permit(self, operation: str | None, vpc_state: str | None) -> int | None:
        with self._lock:
            before = self._state
            permit = self._admit()
            after = self._state
            if permit is None:
                self._rejected += 1
        try:
            self._notify(before, after)
        except BaseException:
            # a hook that raised past the breaker (a cancelled task, KeyboardInterrupt): the
            # call never starts, so the slot it took is given back, not stranded
            if permit:
                self.release_probe(permit)
            raise
        if permit is None:
            key = self._key(operation, vpc_state)
            with self._lock:
                self._tally.refused(*key)
        self._after_call()
        return permit

    def release_probe(self, permit: int | None = None) -> None:
        """Give back the probe slot of a call that will report no outcome (cancelled, an
        ignored exception, or never made). With the call's `permit` (from `acquire`; `calling`
        and `protect` pass it) only the slot that call took is freed: nothing for a call
        admitted while CLOSED, nor for a probe of an earlier half-open period (resilience4j's
        releasePermission). Without one, a slot of the current half-open period is freed: the
        caller must hold one (it had True from `should_attempt_request` in this period)."""
        with self._lock:
            if self._state is not BreakerState.HALF_OPEN or self._probes <= 0:
                return
            if permit is None or permit == self._episode:
                self._probes -= 1

    def calling(
        self,
        *,
        operation: str | None = None,
        vpc_state: str | None = None,
        timeout_s: float | None = None,
        ignore: tuple[type[BaseException], ...] = (),
    ) -> CallGuard:
        """`with breaker.calling(operation="connection"):` (or `async with`) around a call:
        refused with CircuitOpenError, else timed and recorded (see CallGuard)."""
        return CallGuard(
            self, operation=operation, vpc_state=vpc_state, timeout_s=timeout_s, ignore=ignore
        )

    def protect(
        self,
        func: Callable[..., Any] | None = None,
        *,
        operation: str | None = None,
        vpc_state: str | None = None,
        timeout_s: float | None = None,
        ignore: tuple[type[BaseException], ...] = (),
    ) -> Any:
        """A decorator, bare (`@breaker.protect`) or with the `calling` arguments, for plain and
        `async def` functions alike."""

        def guard() -> CallGuard:
            return self.calling(
                operation=operation, vpc_state=vpc_state, timeout_s=timeout_s, ignore=ignore
            )

        if func is not None:
            return protected(func, guard)
        return lambda f: protected(f, guard)

    # --- outcomes --------------------------------------------------------------------------

    def record_success(
        self,
        duration_s: float | None = None,
        *,
        timeout_s: float | None = None,
        operation: str | None = None,
        vpc_state: str | None = None,
    ) -> None:
        self._record(False, duration_s, timeout_s, operation, vpc_state)

    def record_failure(
        self,
        error: BaseException | None = None,
        *,
        duration_s: float | None = None,
        timeout_s: float | None = None,
        operation: str | None = None,
        vpc_state: str | None = None,
    ) -> None:
        self._record(True, duration_s, timeout_s, operation, vpc_state)

    def _record(
        self,
        failed: bool,
        duration_s: float | None,
        timeout_s: float | None,
        operation: str | None,
        vpc_state: str | None,
    ) -> None:
        op, state = self._key(operation, vpc_state)
        threshold = self._slow_threshold(timeout_s, op, state)
        slow = duration_s is not None and threshold is not None and duration_s > threshold
        with self._lock:
            before = self._state
            if failed:
                self._last_failure_wall = datetime.now(UTC)
            self._tally.outcome(op, state, failed=failed, slow=slow, slow_threshold_s=threshold)
            if self._state is BreakerState.HALF_OPEN:
                self._probe_outcome(failed, slow)
            elif self._state is BreakerState.CLOSED:
                self._closed_outcome(failed, slow)
            # An outcome while OPEN is a call that began before it opened: stale news.
            after = self._state
        self._notify(before, after)
        self._after_call()

    def _closed_outcome(self, failed: bool, slow: bool) -> None:
        self._failures = self._failures + 1 if failed else 0
        if self.mode == "consecutive":
            if failed and self._failures >= self.failure_threshold:
                self._open(after_probe=False)
            return
        now = self._clock()
        self._window.record(now, failed=failed, slow=slow)
        calls, failures, slow_calls = self._window.totals(now)
        needed = self._window.decides_after(self.minimum_calls)
        if self._rates_trip(calls, failures, slow_calls, needed):
            self._open(after_probe=False)

    def _probe_outcome(self, failed: bool, slow: bool) -> None:
        if self.mode == "consecutive":
            if failed:
                self._open(after_probe=True)
            else:
                self._close()
            return
        outcomes = self._probe_outcomes
        outcomes[0] += 1
        outcomes[1] += int(failed)
        outcomes[2] += int(slow)
        if outcomes[0] >= self.half_open_max_calls:
            calls, failures, slow_calls = outcomes
            if self._rates_trip(calls, failures, slow_calls, calls):
                self._open(after_probe=True)
            else:
                self._close()

    def _rates_trip(self, calls: int, failures: int, slow_calls: int, needed: int) -> bool:
        if calls == 0 or calls < needed:
            return False
        if failures / calls >= self.failure_rate_threshold:
            return True
        slow_limit = self.slow_call_rate_threshold
        return slow_limit < 1.0 and slow_calls / calls >= slow_limit

    def _slow_threshold(
        self, timeout_s: float | None, operation: str, vpc_state: str
    ) -> float | None:
        if self.slow_call_s is not None:
            return self.slow_call_s
        if timeout_s is not None:
            return timeout_s
        if self._timeout_provider is None:
            return None
        try:
            return self._timeout_provider(operation, vpc_state)
        except Exception:
            logger.exception("circuit breaker timeout provider failed")
            return None

    def _key(self, operation: str | None, vpc_state: str | None) -> tuple[str, str]:
        """The (operation, VPC state) a call is counted under."""
        if vpc_state is None and self._vpc_state_provider is not None:
            try:
                vpc_state = self._vpc_state_provider()
            except Exception:
                logger.exception("circuit breaker VPC state provider failed")
        return operation or DEFAULT_OPERATION, vpc_state or UNKNOWN_STATE

    # --- monitoring and summaries ----------------------------------------------------------

    def get_status(self) -> dict[str, Any]:
        """A snapshot for monitoring (it takes no probe slot)."""
        with self._lock:
            before = self._state
            self._expire_half_open()
            if self._state is BreakerState.HALF_OPEN:  # the probes' outcomes, as they decide
                calls, failures, slow_calls = self._probe_outcomes
                needed = self.half_open_max_calls
            else:
                calls, failures, slow_calls = self._window.totals(self._clock())
                needed = self._window.decides_after(self.minimum_calls)
            rated = self.mode == "rate" and calls >= needed and calls > 0
            status = {
                "state": self._state.value,
                "mode": self.mode,
                "failure_count": self._failures,
                "last_failure_time": (
                    self._last_failure_wall.isoformat() if self._last_failure_wall else None
                ),
                "failure_threshold": self.failure_threshold,
                "timeout_seconds": self.recovery_timeout_s,
                "open_wait_s": self._open_wait_s,
                "half_open_max_calls": self.half_open_max_calls,
                "half_open_probes_in_flight": self._probes,
                "window_calls_recorded": calls,
                "window_failures": failures,
                "window_slow_calls": slow_calls,
                "failure_rate": failures / calls if rated else None,
                "slow_call_rate": slow_calls / calls if rated else None,
                "rejected_calls": self._rejected,
                "ready_for_request": self._would_admit(),
            }
            after = self._state
        self._notify(before, after)
        return status

    def summaries(self) -> list[dict[str, Any]]:
        """The summaries of the window that ends now (the `breaker_summary` fields, one per
        operation and VPC state that saw a call), starting a new window; nothing is sent."""
        with self._lock:
            return self._tally.drain(self._clock(), self._state.value)

    def flush(self) -> None:
        """Send the current window's summaries to `on_summary` now."""
        self._publish(self.summaries())

    def close(self) -> None:
        """Stop the summary timer and send the last summaries (also run at interpreter exit)."""
        with self._lock:
            timer, self._timer = self._timer, None
            self._closed = True
        if timer is not None:
            timer.stop()
        atexit.unregister(self.close)
        self.flush()

    def _after_call(self) -> None:
        """Send the summaries when a period is over, and start the timer on the first call."""
        if self._on_summary is None or self.summary_every_s is None:
            return
        start = False
        with self._lock:
            due = self._due()
            if (self._timer is None or not self._timer.alive()) and not self._closed:
                self._timer = SummaryTimer(self.summary_every_s, self._tick)
                start = True
        if start:
            atexit.unregister(self.close)  # once, however often a fork made it start again
            atexit.register(self.close)
        self._publish(due)

    def _tick(self) -> None:
        with self._lock:
            due = self._due()
        self._publish(due)

    def _due(self) -> list[dict[str, Any]]:
        now = self._clock()
        every_s = self.summary_every_s
        if every_s is None or now - self._tally.since < every_s:
            return []
        return self._tally.drain(now, self._state.value)

    def _publish(self, summaries: list[dict[str, Any]]) -> None:
        if not summaries or self._on_summary is None:
            return
        try:
            self._on_summary(summaries)
        except Exception:
            logger.exception("circuit breaker summary hook failed")

    def _forked(self) -> None:
        """In a child just forked: the parent's calls are the parent's to report (gunicorn
        `--preload`, multiprocessing), so the tally starts empty; the lock is new (another of
        the parent's threads may have held it), and the timer, a thread the child lacks, starts
        again on its first call."""
        self._lock = threading.Lock()
        self._tally = CallTally(self._clock())
        self._rejected = 0
        self._timer = None

    # --- the state machine (under the lock) ------------------------------------------------

    def _expire_half_open(self) -> None:
        """A half-open period with no outcome for `half_open_wait_s`: its probes are taken as
        lost, and the breaker opens again (resilience4j's maximum wait in half-open). The
        period ended at its deadline, however much later this is noticed: the OPEN wait
        counts from the deadline, and is not backed off (a lost probe says nothing of the
        dependency), so after a long idle spell the next call is a probe, not refused."""
        if self._state is not BreakerState.HALF_OPEN:
            return
        deadline = self._half_open_since + self.half_open_wait_s
        if self._clock() >= deadline:
            self._state = BreakerState.OPEN
            self._opened_at = deadline
            self._probes = 0

    def _admit(self) -> int | None:
        """None (refused), 0 (admitted, no probe slot) or the half-open period's number (a
        probe slot of that period taken)."""
        self._expire_half_open()
        if self._state is BreakerState.CLOSED:
            return 0
        if self._state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self._open_wait_s:
                return None
            self._state = BreakerState.HALF_OPEN
            self._half_open_since = self._clock()
            self._episode += 1
            self._probes = 0
            self._probe_outcomes = [0, 0, 0]
        if self._probes < self.half_open_max_calls:
            self._probes += 1
            return self._episode
        return None

    def _would_admit(self) -> bool:
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            return self._clock() - self._opened_at >= self._open_wait_s
        return self._probes < self.half_open_max_calls

    def _wait_cap(self) -> float:
        cap = self.max_recovery_timeout_s
        return max(self.recovery_timeout_s, cap if cap is not None else MAX_RECOVERY_TIMEOUT_S)

    def _open(self, *, after_probe: bool) -> None:
        """OPEN for the recovery time, or, after a failed half-open period, for the last wait
        times the backoff multiplier (capped)."""
        if after_probe:
            self._open_wait_s = min(self._open_wait_s * self.backoff_multiplier, self._wait_cap())
        else:
            self._open_wait_s = self.recovery_timeout_s
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._probes = 0

    def _close(self) -> None:
        self._state = BreakerState.CLOSED
        self._probes = 0
        self._failures = 0
        self._open_wait_s = self.recovery_timeout_s
        self._window = new_window(self.window_calls, self.window_s)

    def _notify(self, before: BreakerState, after: BreakerState) -> None:
        if before is not after and self._on_transition is not None:
            try:
                self._on_transition(before, after)
            except Exception:
                logger.exception("circuit breaker transition hook failed (%s -> %s)", before, after)
