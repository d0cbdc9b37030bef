"""What the breaker saw since its last summary, per (operation, VPC state): the fields of the
contract's `breaker_summary` event (docs/telemetry.md v1.1), and the quiet
timer that asks for one."""

from __future__ import annotations

import threading

TYPE_CHECKING = False  # typing costs the service's startup ~10 ms; only checkers need it
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class _Counts:
    __slots__ = ("calls", "failures", "rejected", "slow_calls", "slow_threshold_s")

    def __init__(self) -> None:
        self.calls = self.failures = self.slow_calls = self.rejected = 0
        self.slow_threshold_s: float | None = None


class CallTally:
    """Calls, failures, slow calls and refused calls by (operation, vpc_state) since `since`."""

    def __init__(self, since: float) -> None:
        self.since = since
        self._counts: dict[tuple[str, str], _Counts] = {}

    def _at(self, operation: str, vpc_state: str) -> _Counts:
        key = (operation, vpc_state)
        found = self._counts.get(key)
        if found is None:
            found = self._counts[key] = _Counts()
        return found

    def outcome(
        self,
        operation: str,
        vpc_state: str,
        *,
        failed: bool,
        slow: bool,
        slow_threshold_s: float | None,
    ) -> None:
        counts = self._at(operation, vpc_state)
        counts.calls += 1
        counts.failures += int(failed)
        counts.slow_calls += int(slow)
        if slow_threshold_s is not None:
            # the largest threshold a call of the window was judged by (one per state, as a rule)
            counts.slow_threshold_s = max(slow_threshold_s, counts.slow_threshold_s or 0.0)

    def refused(self, operation: str, vpc_state: str) -> None:
        self._at(operation, vpc_state).rejected += 1

    def drain(self, now: float, breaker_state: str) -> list[dict[str, Any]]:
        """The summaries of the window that ends now (one per key that saw a call or a refusal),
        and a fresh window from now."""
        window_s = max(0.0, now - self.since)
        summaries = [
            {
                "window_s": round(window_s, 6),
                "calls": counts.calls,
                "failures": counts.failures,
                "slow_calls": counts.slow_calls,
                "slow_threshold_s": counts.slow_threshold_s,
                "rejected": counts.rejected,
                "breaker_state": breaker_state,
                "vpc_state": vpc_state,
                "operation": operation,
            }
            for (operation, vpc_state), counts in sorted(self._counts.items())
        ]
        self._counts = {}
        self.since = now
        return summaries


class SummaryTimer:
    """A daemon thread that calls `tick` every `every_s` seconds until stopped. Started by the
    breaker on its first call, never at import, so a process that makes no call runs none."""

    def __init__(self, every_s: float, tick: Callable[[], None]) -> None:
        self.every_s = every_s
        self._tick = tick
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="analyzer-breaker-summary", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self._tick()

    def alive(self) -> bool:
        """False in a child process forked after it started (threads do not survive a fork)."""
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)
