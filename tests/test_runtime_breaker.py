"""The circuit breaker: every transition under a fake clock; safe under threads and asyncio."""

from __future__ import annotations

import asyncio
import threading

import pytest

from analyzer.runtime import BreakerState, CircuitBreaker
from analyzer.runtime.schema import BreakerSettings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_closed_counts_consecutive_failures_only(clock: FakeClock) -> None:
    breaker = CircuitBreaker(3, 30.0, 1, clock=clock)
    for _ in range(5):  # fail, fail, succeed: the seed would open after 3 failures in total
        breaker.record_failure(TimeoutError())
        breaker.record_failure(TimeoutError())
        breaker.record_success()
    assert breaker.state == "CLOSED" and breaker.get_status()["failure_count"] == 0


def test_every_transition(clock: FakeClock) -> None:
    seen: list[tuple[str, str]] = []
    breaker = CircuitBreaker(
        2, 30.0, 2, clock=clock, on_transition=lambda a, b: seen.append((a, b))
    )
    assert breaker.state == BreakerState.CLOSED == "CLOSED"
    # CLOSED -> OPEN after 2 consecutive failures
    breaker.record_failure(RuntimeError("x"))
    assert breaker.state == "CLOSED" and breaker.should_attempt_request()
    breaker.record_failure(RuntimeError("x"))
    assert breaker.state == "OPEN"
    # OPEN refuses until the recovery timeout has passed on the monotonic clock
    clock.now += 29.9
    assert not breaker.should_attempt_request()
    assert breaker.get_status()["ready_for_request"] is False
    clock.now += 0.1
    assert breaker.get_status()["ready_for_request"] is True  # status takes no probe slot
    # OPEN -> HALF_OPEN: at most half_open_max_calls probes
    assert breaker.should_attempt_request()
    assert breaker.state == "HALF_OPEN"
    assert breaker.should_attempt_request()
    assert not breaker.should_attempt_request()
    # HALF_OPEN -> OPEN at once on a failure, and the wait starts again
    breaker.record_failure(TimeoutError())
    assert breaker.state == "OPEN"
    clock.now += 10
    assert not breaker.should_attempt_request()
    clock.now += 20
    assert breaker.should_attempt_request() and breaker.state == "HALF_OPEN"
    # HALF_OPEN -> CLOSED on a success; the count starts over
    breaker.record_success()
    assert breaker.state == "CLOSED" and breaker.get_status()["failure_count"] == 0
    breaker.record_failure(TimeoutError())
    assert breaker.state == "CLOSED"
    assert seen == [
        ("CLOSED", "OPEN"),
        ("OPEN", "HALF_OPEN"),
        ("HALF_OPEN", "OPEN"),
        ("OPEN", "HALF_OPEN"),
        ("HALF_OPEN", "CLOSED"),
    ]


def test_a_late_success_while_open_changes_nothing(clock: FakeClock) -> None:
    breaker = CircuitBreaker(1, 30.0, 1, clock=clock)
    breaker.record_failure(TimeoutError())
    breaker.record_success()
    assert breaker.state == "OPEN"


def test_wall_clock_jumps_do_not_matter(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the injected monotonic clock decides; the seed used datetime.now()."""
    import time as time_module

    breaker = CircuitBreaker(1, 30.0, 1, clock=clock)
    breaker.record_failure(TimeoutError())
    monkeypatch.setattr(time_module, "time", lambda: 10**12)
    assert not breaker.should_attempt_request()


def test_status_shape(clock: FakeClock) -> None:
    status = CircuitBreaker(3, 30.0, 1, clock=clock).get_status()
    assert {
        "state",
        "failure_count",
        "last_failure_time",
        "failure_threshold",
        "timeout_seconds",
        "ready_for_request",
    } <= set(status)


def test_settings_update_keeps_state(clock: FakeClock) -> None:
    breaker = CircuitBreaker(1, 30.0, 1, clock=clock)
    breaker.record_failure(TimeoutError())
    breaker.update_settings(BreakerSettings(5, 10.0, 3))
    assert breaker.state == "OPEN"
    clock.now += 10
    assert [breaker.should_attempt_request() for _ in range(4)] == [True, True, True, False]


def test_threads_never_exceed_the_probe_limit(clock: FakeClock) -> None:
    breaker = CircuitBreaker(1, 1.0, 3, clock=clock)
    breaker.record_failure(TimeoutError())
    clock.now += 1.0
    barrier = threading.Barrier(16)
    admitted: list[bool] = []
    lock = threading.Lock()

    def probe() -> None:
        barrier.wait()
        allowed = breaker.should_attempt_request()
        with lock:
            admitted.append(allowed)

    threads = [threading.Thread(target=probe) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(admitted) == 3


def test_threads_counting_failures_lose_none() -> None:
    breaker = CircuitBreaker(1000, 30.0, 1)  # the most a config allows: it never opens here

    def fail() -> None:
        for _ in range(124):
            breaker.record_failure(TimeoutError())

    threads = [threading.Thread(target=fail) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert breaker.get_status()["failure_count"] == 992


def test_asyncio_tasks_share_it_safely(clock: FakeClock) -> None:
    breaker = CircuitBreaker(1, 1.0, 2, clock=clock)
    breaker.record_failure(TimeoutError())
    clock.now += 1.0

    async def probe() -> bool:
        await asyncio.sleep(0)
        return breaker.should_attempt_request()

    async def main() -> list[bool]:
        return list(await asyncio.gather(*(probe() for _ in range(10))))

    assert sum(asyncio.run(main())) == 2


def _half_open(clock: FakeClock, **kw: object) -> CircuitBreaker:
    breaker = CircuitBreaker(1, 30.0, 1, clock=clock, **kw)  # type: ignore[arg-type]
    breaker.record_failure(TimeoutError())
    clock.now += 30.0
    assert breaker.should_attempt_request() and breaker.state == "HALF_OPEN"
    return breaker


def test_a_released_probe_gives_its_slot_back(clock: FakeClock) -> None:
    """resilience4j's releasePermission: a probe cancelled before it reports frees its slot."""
    breaker = _half_open(clock)
    assert not breaker.should_attempt_request()  # the one slot is taken
    breaker.release_probe()
    assert breaker.get_status()["half_open_probes_in_flight"] == 0
    assert breaker.should_attempt_request()
    breaker.record_success()
    assert breaker.state == "CLOSED"
    breaker.release_probe()  # outside HALF_OPEN: nothing to give back
    assert breaker.state == "CLOSED" and breaker.should_attempt_request()


def test_a_probe_that_never_reports_does_not_keep_it_half_open(clock: FakeClock) -> None:
    """A cancelled task's probe never records an outcome: after the maximum wait in half-open
    the breaker opens again, and after the recovery time it probes afresh (it stayed
    HALF_OPEN, refusing everything, a day later)."""
    seen: list[tuple[str, str]] = []
    breaker = _half_open(clock, on_transition=lambda a, b: seen.append((a, b)))
    clock.now += 299.0
    assert breaker.state == "HALF_OPEN" and not breaker.should_attempt_request()
    clock.now += 1.0
    assert breaker.state == "OPEN"
    clock.now += 30.0
    assert breaker.should_attempt_request() and breaker.state == "HALF_OPEN"
    breaker.record_success()
    assert breaker.state == "CLOSED"
    assert seen[-3:] == [("HALF_OPEN", "OPEN"), ("OPEN", "HALF_OPEN"), ("HALF_OPEN", "CLOSED")]
    short = _half_open(FakeClock(), max_half_open_wait_s=5.0)
    short._clock.now += 5.0  # type: ignore[attr-defined]
    assert short.state == "OPEN"


def test_a_failing_transition_hook_strands_no_probe(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The hook raises on OPEN -> HALF_OPEN: the caller still gets its probe, and its outcome
    closes the breaker; the hook's error is logged."""

    def hook(before: str, after: str) -> None:
        raise RuntimeError("metrics backend down")

    breaker = CircuitBreaker(1, 30.0, 1, clock=clock, on_transition=hook)
    breaker.record_failure(TimeoutError())
    clock.now += 30.0
    assert breaker.should_attempt_request()
    breaker.record_success()
    assert breaker.state == "CLOSED"
    assert "transition hook failed" in caplog.text


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ((2.5, 30.0, 1), "failure_threshold"),
        ((True, 30.0, 1), "failure_threshold"),
        ((0, 30.0, 1), "failure_threshold"),
        ((3, float("inf"), 1), "recovery_timeout_s"),
        ((3, float("nan"), 1), "recovery_timeout_s"),
        ((3, -1.0, 1), "recovery_timeout_s"),
        ((3, "30", 1), "recovery_timeout_s"),
        ((3, 30.0, 1.5), "half_open_max_calls"),
        ((3, 30.0, False), "half_open_max_calls"),
    ],
)
def test_settings_that_make_no_sense_are_refused(args: tuple[object, ...], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        CircuitBreaker(*args)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_half_open_wait_s"):
        CircuitBreaker(3, 30.0, 1, max_half_open_wait_s=float("inf"))


def test_a_bad_settings_update_is_refused_and_changes_nothing(clock: FakeClock) -> None:
    breaker = CircuitBreaker(3, 30.0, 1, clock=clock)
    with pytest.raises(ValueError, match="failure_threshold"):
        breaker.update_settings(BreakerSettings(2.5, 30.0, 1))  # type: ignore[arg-type]
    assert breaker.failure_threshold == 3
