"""The rate-mode breaker: resilience4j's CircuitBreakerStateMachineTest scenarios under a fake
clock, exponential backoff, the call-recording API (sync, async, decorator) and summaries."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.runtime import BreakerState, CircuitBreaker, CircuitOpenError
from analyzer.runtime.schema import BreakerSettings
from tests.test_runtime_breaker import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def r4j(clock: FakeClock, **kw: Any) -> CircuitBreaker:
    """resilience4j's setUp: failure and slow-call rates 50 %, 4 half-open probes, slow over
    4 s, a 20 s time window deciding after 5 calls, 5 s in OPEN, 1 s at most in HALF_OPEN."""
    settings: dict[str, Any] = {
        "mode": "rate",
        "failure_rate_threshold": 0.5,
        "slow_call_rate_threshold": 0.5,
        "slow_call_s": 4.0,
        "window_s": 20.0,
        "minimum_calls": 5,
        "max_half_open_wait_s": 1.0,
        **kw,
    }
    return CircuitBreaker(1, 5.0, 4, clock=clock, **settings)


def opened(breaker: CircuitBreaker, clock: FakeClock) -> CircuitBreaker:
    """Trip it (five failures), as resilience4j's transitionToOpenState does."""
    for _ in range(5):
        breaker.record_failure(RuntimeError())
    assert breaker.state == "OPEN"
    return breaker


def half_open(breaker: CircuitBreaker, clock: FakeClock) -> CircuitBreaker:
    opened(breaker, clock)
    clock.now += breaker.open_wait_s
    return breaker


def test_open_refuses_and_counts_the_refusal(clock: FakeClock) -> None:
    """shouldThrowCallNotPermittedExceptionWhenStateIsOpen"""
    breaker = opened(r4j(clock), clock)
    with pytest.raises(CircuitOpenError, match="OPEN") as refused:
        breaker.acquire()
    assert refused.value.retry_after_s == pytest.approx(5.0)
    assert breaker.get_status()["rejected_calls"] == 1


def test_half_open_permits_four_probes_and_a_release_gives_one_back(clock: FakeClock) -> None:
    """shouldIncreaseCounterOnReleasePermission, shouldOnlyPermitFourCallsInHalfOpenState,
    shouldThrowCallNotPermittedExceptionWhenNotFurtherTestCallsArePermitted"""
    breaker = half_open(r4j(clock, max_half_open_wait_s=60.0), clock)
    assert [breaker.should_attempt_request() for _ in range(6)] == [True] * 4 + [False] * 2
    assert breaker.state == "HALF_OPEN"
    breaker.release_probe()
    assert breaker.should_attempt_request()
    with pytest.raises(CircuitOpenError, match="HALF_OPEN"):
        breaker.acquire()


def test_opens_when_the_failure_rate_reaches_the_threshold_over_time(clock: FakeClock) -> None:
    """shouldOpenAfterFailureRateThresholdExceeded2: S S S F F one a second is 40 %, closed;
    a sixth call, a failure, makes 3 of 6 = 50 %, at the threshold: open."""
    breaker = r4j(clock)
    for failed in (False, False, False, True, True):
        breaker.record_failure(RuntimeError()) if failed else breaker.record_success(0.0)
        clock.now += 1
    assert breaker.state == "CLOSED"
    breaker.record_failure(RuntimeError())
    assert breaker.state == "OPEN"


def test_opens_once_the_minimum_calls_are_in_and_the_rate_is_over(clock: FakeClock) -> None:
    """shouldOpenAfterFailureRateThresholdExceeded: F F F S stays closed (below the minimum
    of 5), the fifth call, a success, gives 60 % and opens it; a call then is refused."""
    breaker = r4j(clock)
    for expected_calls, failed in enumerate((True, True, True, False), start=1):
        assert breaker.should_attempt_request()
        breaker.record_failure(RuntimeError()) if failed else breaker.record_success(0.0)
        status = breaker.get_status()
        assert status["state"] == "CLOSED" and status["failure_rate"] is None  # resilience4j: -1
        assert status["window_calls_recorded"] == expected_calls
    breaker.record_success(0.0)
    status = breaker.get_status()
    assert status["state"] == "OPEN"
    assert (status["window_calls_recorded"], status["window_failures"]) == (5, 3)
    assert status["failure_rate"] == pytest.approx(0.6)
    assert not breaker.should_attempt_request()
    assert breaker.get_status()["rejected_calls"] == 1


def test_opens_when_the_slow_call_rate_is_over(clock: FakeClock) -> None:
    """shouldOpenAfterSlowCallRateThresholdExceeded: slow (5 s > 4 s) failure, slow success,
    fast failure, fast success, slow success: 3 of 5 slow = 60 %, open (failures 40 %)."""
    breaker = r4j(clock)
    breaker.record_failure(RuntimeError(), duration_s=5.0)
    breaker.record_success(5.0)
    breaker.record_failure(RuntimeError(), duration_s=0.1)
    breaker.record_success(0.1)
    assert breaker.state == "CLOSED"
    breaker.record_success(5.0)
    status = breaker.get_status()
    assert status["state"] == "OPEN" and status["window_slow_calls"] == 3
    assert status["slow_call_rate"] == pytest.approx(0.6)


def test_slow_calls_timed_by_the_call_guard_under_the_clock(clock: FakeClock) -> None:
    """shouldOpenAfterSlowCallRateThresholdExceededUsingMockClock: the decorated call advances
    the clock; the guard times it."""
    breaker = r4j(clock)

    @breaker.protect
    def call(seconds: float) -> str:
        clock.now += seconds
        return "done"

    for count, seconds in enumerate((5, 5, 1, 1), start=1):
        assert call(seconds) == "done"
        assert breaker.get_status()["window_calls_recorded"] == count
        assert breaker.state == "CLOSED"
    assert breaker.get_status()["window_slow_calls"] == 2
    call(5)
    assert breaker.state == "OPEN" and breaker.get_status()["window_slow_calls"] == 3


def test_slow_is_over_the_calls_own_timeout_when_no_slow_call_s(clock: FakeClock) -> None:
    """slow_call_s left out: a call is slow over the timeout it ran under (argument, else the
    provider's for its operation and state)."""
    timeouts = {("connection", "pressure"): 10.0}
    breaker = r4j(
        clock,
        slow_call_s=None,
        timeout_provider=lambda op, state: timeouts.get((op, state)),
    )
    breaker.record_success(11.0, operation="connection", vpc_state="pressure")  # slow: over 10
    breaker.record_success(9.0, operation="connection", vpc_state="pressure")
    breaker.record_success(30.0, timeout_s=20.0, operation="connection", vpc_state="healthy")
    breaker.record_success(30.0, operation="connection", vpc_state="healthy")  # no timeout: fast
    assert breaker.get_status()["window_slow_calls"] == 2


def test_time_window_forgets_old_calls(clock: FakeClock) -> None:
    breaker = r4j(clock)
    for _ in range(4):
        breaker.record_failure(RuntimeError())
    clock.now += 20.0  # those four leave the 20 s window
    for _ in range(4):
        breaker.record_success(0.0)
    breaker.record_failure(RuntimeError())
    status = breaker.get_status()
    assert status["state"] == "CLOSED" and status["window_calls_recorded"] == 5
    assert status["failure_rate"] == pytest.approx(0.2)


def test_count_window_keeps_the_last_calls(clock: FakeClock) -> None:
    """COUNT_BASED: the last `window_calls` outcomes; a window smaller than the minimum decides
    once full (resilience4j takes the smaller of the two)."""
    breaker = CircuitBreaker(1, 5.0, 1, clock=clock, mode="rate", window_calls=4, minimum_calls=10)
    for failed in (True, False, False, False, False, False):
        breaker.record_failure(RuntimeError()) if failed else breaker.record_success()
        assert breaker.state == "CLOSED"  # 1 of 4 at most
    assert breaker.get_status()["window_failures"] == 0  # the failure slid out
    breaker.record_failure(RuntimeError())
    assert breaker.state == "CLOSED"  # 1 of 4
    breaker.record_failure(RuntimeError())
    assert breaker.state == "OPEN"  # 2 of 4 = 50 %


def test_half_open_after_the_wait(clock: FakeClock) -> None:
    """shouldTransitionToHalfOpenAfterWaitDuration"""
    breaker = opened(r4j(clock), clock)
    assert not breaker.should_attempt_request()
    clock.now += 3
    assert breaker.state == "OPEN" and not breaker.should_attempt_request()
    assert breaker.get_status()["rejected_calls"] == 2
    clock.now += 3
    assert breaker.should_attempt_request() and breaker.state == "HALF_OPEN"
    assert breaker.get_status()["window_calls_recorded"] == 0


def test_exponential_backoff_of_the_open_wait(clock: FakeClock) -> None:
    """shouldTransitionToHalfOpenAfterWaitInterval (IntervalFunction.ofExponentialBackoff(5 s),
    multiplier 1.5): each failed half-open period waits 1.5 times longer, up to the cap; a
    closing starts over at the recovery time."""
    breaker = r4j(clock, backoff_multiplier=1.5, max_recovery_timeout_s=10.0)
    opened(breaker, clock)
    waits = []
    for _ in range(4):
        waits.append(breaker.open_wait_s)
        clock.now += breaker.open_wait_s - 0.01
        assert not breaker.should_attempt_request()
        clock.now += 0.01
        assert breaker.should_attempt_request() and breaker.state == "HALF_OPEN"
        breaker.record_failure(RuntimeError())  # 1 of 1 outcome so far: not yet 4 probes
        for _ in range(3):
            assert breaker.should_attempt_request()
            breaker.record_failure(RuntimeError())
        assert breaker.state == "OPEN"
    assert waits == [5.0, 7.5, 10.0, 10.0]
    clock.now += 10.0
    for _ in range(4):
        assert breaker.should_attempt_request()
        breaker.record_success(0.0)
    assert breaker.state == "CLOSED" and breaker.open_wait_s == 5.0


def test_back_to_open_when_the_probes_fail_too_often(clock: FakeClock) -> None:
    """shouldTransitionBackToOpenStateWhenFailureRateIsAboveThreshold: F F S F = 75 %."""
    breaker = half_open(r4j(clock, max_half_open_wait_s=60.0), clock)
    for failed in (True, True, False):
        assert breaker.should_attempt_request()
        breaker.record_failure(RuntimeError()) if failed else breaker.record_success(0.0)
        assert breaker.state == "HALF_OPEN"
    assert breaker.should_attempt_request()
    breaker.record_failure(RuntimeError())
    assert breaker.state == "OPEN"


def test_back_to_open_when_the_probes_are_slow(clock: FakeClock) -> None:
    """shouldTransitionBackToOpenStateWhenSlowCallRateIsAboveThreshold: 3 of 4 slow, no failure."""
    breaker = half_open(r4j(clock, max_half_open_wait_s=60.0), clock)
    for seconds in (5.0, 5.0, 5.0, 1.0):
        assert breaker.should_attempt_request()
        breaker.record_success(seconds)
    assert breaker.state == "OPEN"


def test_back_to_closed_when_the_probes_mostly_succeed(clock: FakeClock) -> None:
    """shouldTransitionBackToClosedStateWhenFailureIsBelowThreshold: F S S S = 25 %: closed,
    with a fresh window."""
    breaker = half_open(r4j(clock, max_half_open_wait_s=60.0), clock)
    for failed in (True, False, False, False):
        assert breaker.should_attempt_request()
        breaker.record_failure(RuntimeError()) if failed else breaker.record_success(0.0)
    assert breaker.state == "CLOSED"
    assert breaker.get_status()["window_calls_recorded"] == 0
    breaker.record_success(0.0)
    assert breaker.get_status()["window_calls_recorded"] == 1


def test_an_ignored_exception_gives_its_probe_back(clock: FakeClock) -> None:
    """shouldReleasePermissionWhenExceptionIgnored and shouldIgnoreExceptionsAndThenTransition
    ToClosed: an ignored exception is no outcome; its slot is given back."""
    breaker = half_open(r4j(clock, max_half_open_wait_s=60.0), clock)
    for _ in range(4):
        with pytest.raises(ValueError), breaker.calling(ignore=(ValueError,)):
            raise ValueError("not the database's fault")
    assert breaker.state == "HALF_OPEN"
    assert breaker.get_status()["half_open_probes_in_flight"] == 0
    for _ in range(3):
        with breaker.calling():
            pass
    assert breaker.state == "HALF_OPEN"
    with pytest.raises(RuntimeError), breaker.calling():
        raise RuntimeError("down")
    assert breaker.state == "CLOSED"  # 1 failure of 4 probes


def test_open_again_after_the_maximum_wait_in_half_open(clock: FakeClock) -> None:
    """circuitBreakerTransitionsToOpenAfterWaitDurationInHalfOpenState, on the fake clock."""
    breaker = half_open(r4j(clock), clock)
    assert breaker.should_attempt_request() and breaker.state == "HALF_OPEN"
    clock.now += 1.0
    assert breaker.state == "OPEN"


def test_transition_events_once_per_change(clock: FakeClock) -> None:
    """circuitBreakerDoesNotPublishStateTransitionEventsForInternalTransitions"""
    seen: list[tuple[str, str]] = []
    breaker = r4j(clock, on_transition=lambda a, b: seen.append((a, b)))
    opened(breaker, clock)
    breaker.record_failure(RuntimeError())  # stale news while OPEN
    clock.now += 5.0
    breaker.should_attempt_request()
    breaker.should_attempt_request()
    assert seen == [("CLOSED", "OPEN"), ("OPEN", "HALF_OPEN")]


def test_consecutive_mode_backs_off_too(clock: FakeClock) -> None:
    breaker = CircuitBreaker(1, 10.0, 1, clock=clock, backoff_multiplier=2.0)
    breaker.record_failure(RuntimeError())
    for expected in (10.0, 20.0, 40.0):
        assert breaker.open_wait_s == expected
        clock.now += expected
        assert breaker.should_attempt_request()
        breaker.record_failure(RuntimeError())
    breaker.update_settings(BreakerSettings(1, 10.0, 1))
    assert breaker.open_wait_s == 10.0


def test_the_async_guard_records_and_a_cancelled_call_frees_its_probe(clock: FakeClock) -> None:
    breaker = CircuitBreaker(1, 5.0, 1, clock=clock, mode="rate", minimum_calls=1)

    @breaker.protect(operation="connection")
    async def query(fail: bool) -> int:
        await asyncio.sleep(0)
        if fail:
            raise ConnectionError("refused")
        return 1

    async def main() -> None:
        assert await query(False) == 1
        with pytest.raises(ConnectionError):
            await query(True)  # 1 of 2 = 50 %: open
        assert breaker.state == "OPEN"
        with pytest.raises(CircuitOpenError):
            await query(False)
        clock.now += 5.0
        started = asyncio.Event()

        async def hang() -> None:
            async with breaker.calling(operation="connection"):
                started.set()
                await asyncio.sleep(3600)

        task = asyncio.create_task(hang())
        await started.wait()
        assert breaker.get_status()["half_open_probes_in_flight"] == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert breaker.get_status()["half_open_probes_in_flight"] == 0
        assert await query(False) == 1

    asyncio.run(main())
    assert breaker.state == "CLOSED"
    [summary] = breaker.summaries()
    assert (summary["operation"], summary["calls"], summary["failures"], summary["rejected"]) == (
        "connection",
        3,
        1,
        1,
    )


def test_summaries_per_operation_and_state_every_period(clock: FakeClock) -> None:
    sent: list[dict[str, Any]] = []
    state = {"now": "healthy"}
    breaker = CircuitBreaker(
        2,
        5.0,
        1,
        clock=clock,
        summary_every_s=60.0,
        on_summary=sent.extend,
        vpc_state_provider=lambda: state["now"],
        slow_call_s=2.0,
    )
    try:
        breaker.record_success(1.0, operation="connection")
        breaker.record_success(3.0, operation="connection")  # slow
        state["now"] = "critical"
        breaker.record_failure(TimeoutError(), duration_s=3.0)
        breaker.record_failure(TimeoutError(), duration_s=3.0)  # two in a row: open
        assert not breaker.should_attempt_request()
        assert sent == []
        clock.now += 60.0
        breaker.should_attempt_request()  # the first call after the period sends it
        assert [
            (
                s["operation"],
                s["vpc_state"],
                s["calls"],
                s["failures"],
                s["slow_calls"],
                s["rejected"],
            )
            for s in sent
        ] == [("connection", "healthy", 2, 0, 1, 0), ("initialization", "critical", 2, 2, 2, 1)]
        assert {s["window_s"] for s in sent} == {60.0}
        assert {s["slow_threshold_s"] for s in sent} == {2.0}
        assert {s["breaker_state"] for s in sent} == {"HALF_OPEN"}
    finally:
        breaker.close()
    assert breaker.summaries() == []


def test_a_failing_summary_hook_never_reaches_the_caller(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    def hook(summaries: list[dict[str, Any]]) -> None:
        raise RuntimeError("log sink down")

    def provider() -> str:
        raise RuntimeError("monitor down")

    breaker = CircuitBreaker(
        1, 5.0, 1, clock=clock, on_summary=hook, vpc_state_provider=provider, summary_every_s=1.0
    )
    breaker.record_success(0.1)
    clock.now += 1.0
    breaker.record_success(0.1)
    breaker.close()
    assert "summary hook failed" in caplog.text and "provider failed" in caplog.text
    assert breaker.state == BreakerState.CLOSED


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"mode": "ratio"}, "mode"),
        ({"window_calls": 0}, "window_calls"),
        ({"window_calls": 2.0}, "window_calls"),
        ({"window_s": 0.0}, "window_s"),
        ({"minimum_calls": True}, "minimum_calls"),
        ({"failure_rate_threshold": 0.0}, "failure_rate_threshold"),
        ({"failure_rate_threshold": 1.5}, "failure_rate_threshold"),
        ({"slow_call_rate_threshold": float("nan")}, "slow_call_rate_threshold"),
        ({"slow_call_s": -1.0}, "slow_call_s"),
        ({"backoff_multiplier": 0.5}, "backoff_multiplier"),
        ({"max_recovery_timeout_s": 10.0}, "max_recovery_timeout_s"),  # under the 30 s wait
        ({"summary_every_s": 0.1}, "summary_every_s"),
    ],
)
def test_rate_settings_that_make_no_sense_are_refused(settings: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        CircuitBreaker(3, 30.0, 1, **settings)
    breaker = CircuitBreaker(3, 30.0, 1)
    with pytest.raises(ValueError, match=named):
        breaker.update_settings(BreakerSettings(3, 30.0, 1, **settings))
    assert breaker.mode == "consecutive" and breaker.summary_every_s == 60.0


def test_a_config_with_a_bad_breaker_value_falls_back_and_says_so(
    tmp_path: Any, fresh_runtime: None, caplog: pytest.LogCaptureFixture
) -> None:
    """A rate-mode config whose threshold is out of bounds is not used: one warning naming the
    key, the built-in (consecutive) breaker; the same file with a good value loads rate mode."""
    import json

    from analyzer import runtime
    from analyzer.runtime import schema

    def config(threshold: float) -> str:
        path = tmp_path / f"t{threshold}.json"
        breaker = {"failure_threshold": 3, "recovery_timeout_s": 60, "half_open_max_calls": 1}
        document = {
            "schema_version": schema.SCHEMA_VERSION,
            "env": "staging",
            "timeouts": [
                {"phase": 3, "operation": "connection", "vpc_state": "healthy", "timeout_s": 9}
            ],
            "breaker": {**breaker, "mode": "rate", "failure_rate_threshold": threshold},
        }
        path.write_text(json.dumps(document))
        return str(path)

    assert runtime.load_config(config(1.5)) is None
    assert "breaker.failure_rate_threshold" in caplog.text
    breaker = runtime.get_database_circuit_breaker("staging")
    assert breaker.mode == "consecutive" and breaker.failure_threshold == 5
    runtime.load_config(config(0.25))
    assert (breaker.mode, breaker.failure_rate_threshold, breaker.recovery_timeout_s) == (
        "rate",
        0.25,
        60.0,
    )


def test_the_summary_timer_starts_on_the_first_call_and_again_after_a_fork() -> None:
    """No thread until a call; a timer that died (a forked child has none) is started again."""
    import threading

    sent: list[dict[str, Any]] = []
    breaker = CircuitBreaker(1, 5.0, 1, on_summary=sent.extend, summary_every_s=1.0)
    before = threading.active_count()
    assert breaker._timer is None
    breaker.record_success(0.1)
    timer = breaker._timer
    assert timer is not None and timer.alive() and threading.active_count() == before + 1
    timer.stop()  # as in a child forked after it started
    breaker.record_success(0.1)
    assert breaker._timer is not timer and breaker._timer is not None and breaker._timer.alive()
    breaker.close()
    assert breaker._timer is None and [s["calls"] for s in sent] == [2]


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(1, 8),
    window_s=st.sampled_from([1.0, 2.5, 10.0, 20.0]),
    calls=st.lists(
        st.tuples(st.floats(0, 7, allow_nan=False), st.booleans(), st.booleans()), max_size=60
    ),
)
def test_windows_hold_what_a_brute_force_count_says(
    size: int, window_s: float, calls: list[tuple[float, bool, bool]]
) -> None:
    """The running totals equal a recount: the last `size` calls, and the calls whose bucket is
    one of the last `buckets` (each bucket_s wide) on the clock."""
    import math

    from analyzer.runtime.window import CountWindow, TimeWindow

    count, timed = CountWindow(size), TimeWindow(window_s)
    now, seen = 0.0, []
    for step, failed, slow in calls:
        now += step
        count.record(now, failed=failed, slow=slow)
        timed.record(now, failed=failed, slow=slow)
        seen.append((now, failed, slow))

        def totals(kept: list[tuple[float, bool, bool]]) -> tuple[int, int, int]:
            return len(kept), sum(f for _, f, _ in kept), sum(s for _, _, s in kept)

        assert count.totals(now) == totals(seen[-size:])
        newest = math.floor(now / timed.bucket_s)
        recent = [c for c in seen if math.floor(c[0] / timed.bucket_s) > newest - timed.buckets]
        assert timed.totals(now) == totals(recent)
    later = now + window_s
    assert timed.totals(later)[0] == 0


def test_a_decorated_partial_of_an_async_function_is_timed_to_its_end(clock: FakeClock) -> None:
    """functools.partial hides `async def`: the outcome and duration are still the awaited
    call's (a failure after 3 s), not the instant the coroutine was made."""
    import functools

    breaker = CircuitBreaker(1, 5.0, 1, clock=clock, slow_call_s=2.0)

    async def query(seconds: float) -> None:
        await asyncio.sleep(0)
        clock.now += seconds
        raise ConnectionError("reset")

    run = breaker.protect(functools.partial(query, 3.0))
    with pytest.raises(ConnectionError):
        asyncio.run(run())
    [summary] = breaker.summaries()
    assert (summary["calls"], summary["failures"], summary["slow_calls"]) == (1, 1, 1)
    assert breaker.state == "OPEN"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork: POSIX only")
def test_a_forked_child_starts_with_an_empty_tally() -> None:
    """gunicorn --preload, multiprocessing: each child reports its own calls only."""
    sent: list[dict[str, Any]] = []
    breaker = CircuitBreaker(5, 30.0, 1, on_summary=sent.extend, summary_every_s=None)
    for _ in range(100):
        breaker.record_success(0.01)
    reports: list[int] = []
    for child_calls in (0, 1, 7):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: its own calls, then what its summary says
            try:
                for _ in range(child_calls):
                    breaker.record_failure(TimeoutError(), duration_s=0.01)
                total = sum(s["calls"] for s in breaker.summaries())
                os.write(write_end, str(total).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            reports.append(int(pipe.read() or -1))
        os.waitpid(pid, 0)
    assert reports == [0, 1, 7]
    assert sum(s["calls"] for s in breaker.summaries()) == 100  # the parent's are its own
