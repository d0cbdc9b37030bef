"""The rate-mode breaker's sliding windows of call outcomes: the last N calls, or the calls of
the last T seconds, each keeping running totals so a decision costs no scan."""

from __future__ import annotations

import math

# A time window is cut into buckets (one a second for a window of whole seconds, as
# resilience4j does); a call is counted in its bucket, and a bucket leaves the window whole.
MAX_BUCKETS = 3600


class CountWindow:
    """The outcomes of the last `size` calls."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._ring: list[int] = [0] * size  # 0: empty, else 1 + failed + 2 * slow
        self._next = 0
        self.calls = self.failures = self.slow = 0

    def record(self, now: float, *, failed: bool, slow: bool) -> None:
        old = self._ring[self._next]
        if old:
            self.calls -= 1
            self.failures -= (old - 1) & 1
            self.slow -= (old - 1) >> 1
        self._ring[self._next] = 1 + int(failed) + 2 * int(slow)
        self._next = (self._next + 1) % self.size
        self.calls += 1
        self.failures += int(failed)
        self.slow += int(slow)

    def totals(self, now: float) -> tuple[int, int, int]:
        """(calls, failures, slow calls) in the window."""
        return self.calls, self.failures, self.slow

    def decides_after(self, minimum_calls: int) -> int:
        """Calls needed before a rate means anything: never more than the window holds."""
        return min(minimum_calls, self.size)


class TimeWindow:
    """The outcomes of the calls of the last `window_s` seconds, in buckets."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.buckets = max(1, min(MAX_BUCKETS, math.ceil(window_s)))
        self.bucket_s = window_s / self.buckets
        self._counts = [[0, 0, 0] for _ in range(self.buckets)]
        self._head: int | None = None  # the newest bucket's number (time // bucket_s)
        self.calls = self.failures = self.slow = 0

    def _advance(self, now: float) -> None:
        number = math.floor(now / self.bucket_s)
        if self._head is None:
            self._head = number
            return
        steps = number - self._head
        if steps <= 0:  # a monotonic clock never goes back; a call in the newest bucket
            return
        for step in range(1, min(steps, self.buckets) + 1):
            counts = self._counts[(self._head + step) % self.buckets]
            self.calls -= counts[0]
            self.failures -= counts[1]
            self.slow -= counts[2]
            counts[0] = counts[1] = counts[2] = 0
        self._head = number

    def record(self, now: float, *, failed: bool, slow: bool) -> None:
        self._advance(now)
        assert self._head is not None
        counts = self._counts[self._head % self.buckets]
        counts[0] += 1
        counts[1] += int(failed)
        counts[2] += int(slow)
        self.calls += 1
        self.failures += int(failed)
        self.slow += int(slow)

    def totals(self, now: float) -> tuple[int, int, int]:
        self._advance(now)
        return self.calls, self.failures, self.slow

    def decides_after(self, minimum_calls: int) -> int:
        return minimum_calls


Window = CountWindow | TimeWindow


def new_window(window_calls: int, window_s: float | None) -> Window:
    """The window a rate-mode breaker keeps: time based when `window_s` is set."""
    return TimeWindow(window_s) if window_s is not None else CountWindow(window_calls)
