"""Half-open periods of the circuit breaker: a probe slot is given back only by the call that
took it, and a half-open period ends at its deadline however long nothing happens."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from typing import Any

import pytest

from analyzer.runtime import CircuitBreaker, CircuitOpenError
from analyzer.runtime.schema import BreakerSettings
from tests.test_runtime_breaker import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class Ignored(Exception):
    """An exception the caller tells the breaker to ignore (no outcome)."""


def _trip(breaker: CircuitBreaker, clock: FakeClock) -> None:
    while breaker.state == "CLOSED":
        breaker.record_failure(TimeoutError())
    clock.now += breaker.open_wait_s


def test_a_call_admitted_while_closed_gives_back_no_probe_slot(clock: FakeClock) -> None:
    """Admitted while CLOSED, it ends with an ignored exception after the breaker went
    HALF_OPEN: the one probe slot stays taken (a second probe was admitted before)."""
    breaker = CircuitBreaker(1, 30.0, 1, clock=clock)
    with pytest.raises(Ignored), breaker.calling(ignore=(Ignored,)):
        _trip(breaker, clock)
        assert breaker.should_attempt_request() and breaker.state == "HALF_OPEN"
        raise Ignored
    assert breaker.get_status()["half_open_probes_in_flight"] == 1
    assert not breaker.should_attempt_request()


def test_a_probe_of_an_earlier_half_open_period_gives_back_no_slot(clock: FakeClock) -> None:
    breaker = CircuitBreaker(1, 30.0, 1, clock=clock, max_half_open_wait_s=60.0)
    _trip(breaker, clock)
    stale = breaker.calling(ignore=(Ignored,))
    stale.__enter__()  # the first period's probe, never heard of again
    clock.now += 60.0 + breaker.open_wait_s  # that period ended; a second one begins
    assert breaker.should_attempt_request() and breaker.state == "HALF_OPEN"
    stale.__exit__(Ignored, Ignored(), None)
    assert not breaker.should_attempt_request()


def test_a_cancelled_task_admitted_while_closed_gives_back_no_probe_slot(
    clock: FakeClock,
) -> None:
    breaker = CircuitBreaker(1, 30.0, 1, clock=clock)

    async def main() -> bool:
        started, go_on = asyncio.Event(), asyncio.Event()

        @breaker.protect
        async def query() -> None:
            started.set()
            await go_on.wait()

        task = asyncio.create_task(query())
        await started.wait()
        _trip(breaker, clock)
        assert breaker.should_attempt_request()  # the probe
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return breaker.should_attempt_request()

    assert asyncio.run(main()) is False


def test_a_released_probe_still_frees_its_own_slot(clock: FakeClock) -> None:
    breaker = CircuitBreaker(1, 30.0, 2, clock=clock)
    _trip(breaker, clock)
    with pytest.raises(Ignored), breaker.calling(ignore=(Ignored,)) as call:
        assert call.permit > 0
        raise Ignored
    assert breaker.get_status()["half_open_probes_in_flight"] == 0


class _Probes:
    """Probes in flight per half-open period, counted by the callers themselves: a probe is
    counted after the breaker admits it and uncounted before it leaves, so the count never
    exceeds what the breaker holds."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lock = threading.Lock()
        self.in_flight: Counter[int] = Counter()
        self.worst: Counter[int] = Counter()
        self.stale_exits = 0  # calls admitted while CLOSED that left while HALF_OPEN

    def enter(self, permit: int) -> None:
        if permit:
            with self.lock:
                self.in_flight[permit] += 1
                self.worst[permit] = max(self.worst[permit], self.in_flight[permit])

    def leave(self, permit: int, breaker: CircuitBreaker) -> None:
        with self.lock:
            if permit:
                self.in_flight[permit] -= 1
            elif breaker.get_status()["state"] == "HALF_OPEN":
                self.stale_exits += 1


def _outcome(rng: random.Random) -> type[BaseException] | None:
    return rng.choice([None, TimeoutError, Ignored, Ignored])


@pytest.mark.slow
def test_threads_and_tasks_never_run_more_probes_than_the_limit() -> None:
    """64 threads and 32 asyncio tasks against one breaker (3 probes at most), calls ending in
    successes, failures, ignored exceptions and cancellations: in every half-open period at
    most 3 probes are in flight at once."""
    clock = FakeClock()
    breaker = CircuitBreaker(1, 1.0, 3, clock=clock, max_half_open_wait_s=5.0, summary_every_s=None)
    probes = _Probes(breaker.half_open_max_calls)
    stop_at = time.monotonic() + 3.0

    def call_sync(rng: random.Random) -> None:
        try:
            with breaker.calling(ignore=(Ignored,)) as call:
                probes.enter(call.permit)
                time.sleep(rng.random() * 1e-4)
                ends = _outcome(rng)
                probes.leave(call.permit, breaker)
                if ends is not None:
                    raise ends()
        except (CircuitOpenError, Ignored, TimeoutError):
            clock.now += 0.05

    def thread(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < stop_at:
            call_sync(rng)

    async def task(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < stop_at:
            try:
                async with breaker.calling(ignore=(Ignored,)) as call:
                    probes.enter(call.permit)
                    await asyncio.sleep(0)
                    ends: Any = rng.choice([_outcome(rng), asyncio.CancelledError])
                    probes.leave(call.permit, breaker)
                    if ends is not None:
                        raise ends()
            except (CircuitOpenError, Ignored, TimeoutError, asyncio.CancelledError):
                clock.now += 0.05
                await asyncio.sleep(0)

    async def tasks() -> None:
        await asyncio.gather(*(task(1000 + i) for i in range(32)))

    workers = [threading.Thread(target=thread, args=(i,)) for i in range(64)]
    workers.append(threading.Thread(target=lambda: asyncio.run(tasks())))
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(probes.worst) >= 50, "too few half-open periods to say anything"
    assert probes.stale_exits > 0, "no call admitted while CLOSED ended in a half-open period"
    over = {episode: n for episode, n in probes.worst.items() if n > probes.limit}
    assert not over, f"{len(over)} of {len(probes.worst)} half-open periods ran more probes"


def test_a_stranded_probe_then_a_day_idle_refuses_no_call(clock: FakeClock) -> None:
    """The shipped shape (waits backing off from 264 s): a probe never reports, nothing
    happens for a day, and the next call is admitted (it was refused for 528 s more)."""
    settings = BreakerSettings(
        5, 264.0, 1, backoff_multiplier=2.0, max_recovery_timeout_s=3600.0, max_half_open_s=264.0
    )
    breaker = CircuitBreaker.from_settings(settings, clock=clock)
    _trip(breaker, clock)
    assert breaker.should_attempt_request() and breaker.state == "HALF_OPEN"
    clock.now += 86400.0
    assert breaker.should_attempt_request() and breaker.state == "HALF_OPEN"
    assert breaker.open_wait_s == 264.0  # a lost probe says nothing: no backoff


def test_the_open_wait_counts_from_the_half_open_deadline(clock: FakeClock) -> None:
    breaker = CircuitBreaker(1, 30.0, 1, clock=clock, max_half_open_wait_s=100.0)
    _trip(breaker, clock)
    assert breaker.should_attempt_request()  # the probe, never heard of again
    clock.now += 100.0 + 29.0  # the period ended at 100 s; OPEN since then for 29 s
    assert breaker.state == "OPEN" and not breaker.should_attempt_request()
    clock.now += 1.0
    assert breaker.should_attempt_request() and breaker.state == "HALF_OPEN"


@pytest.mark.parametrize("raised", [KeyboardInterrupt, asyncio.CancelledError])
def test_a_raising_transition_hook_then_an_idle_hour_refuses_no_call(
    clock: FakeClock, raised: type[BaseException]
) -> None:
    """The hook raises past the breaker as it goes HALF_OPEN: the caller never gets its
    probe, and an hour later the next call is admitted."""

    def hook(before: str, after: str) -> None:
        if after == "HALF_OPEN":
            raise raised

    breaker = CircuitBreaker(1, 30.0, 1, clock=clock, on_transition=hook)
    _trip(breaker, clock)
    with pytest.raises(raised):
        breaker.acquire()
    assert breaker.get_status()["half_open_probes_in_flight"] == 0
    clock.now += 3600.0
    assert breaker.should_attempt_request() and breaker.state == "HALF_OPEN"
