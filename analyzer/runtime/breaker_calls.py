"""Recording a call around the circuit breaker: a context manager (sync and async) and a
decorator that ask the breaker first, time the call and report its outcome."""

from __future__ import annotations

import functools

TYPE_CHECKING = False  # typing costs the service's startup ~10 ms; only checkers need it
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import Any

    from analyzer.runtime.breaker import CircuitBreaker

# The code flag of an `async def` function (inspect.CO_COROUTINE; inspect costs ~5 ms to import).
_CO_COROUTINE = 0x80


class CircuitOpenError(RuntimeError):
    """The breaker refused the call: it is OPEN, or HALF_OPEN with every probe slot taken."""

    def __init__(self, state: str, retry_after_s: float | None) -> None:
        wait = f"; retry in {retry_after_s:.1f}s" if retry_after_s is not None else ""
        super().__init__(f"database circuit breaker is {state}: call refused{wait}")
        self.state = state
        self.retry_after_s = retry_after_s


class CallGuard:
    """One call under the breaker. Entering asks for admission (CircuitOpenError if refused);
    leaving records the outcome with the call's duration: a success, a failure for an
    Exception, and no outcome (its probe slot given back) for an exception in `ignore` or one
    that is not an Exception (a cancelled task, KeyboardInterrupt). The exception goes on."""

    __slots__ = (
        "_breaker",
        "_ignore",
        "_operation",
        "_started",
        "_timeout_s",
        "_vpc_state",
        "permit",
    )

    def __init__(
        self,
        breaker: CircuitBreaker,
        *,
        operation: str | None,
        vpc_state: str | None,
        timeout_s: float | None,
        ignore: tuple[type[BaseException], ...],
    ) -> None:
        self._breaker = breaker
        self._operation = operation
        self._vpc_state = vpc_state
        self._timeout_s = timeout_s
        self._ignore = ignore
        self._started = 0.0
        self.permit = 0  # the half-open period whose probe slot this call holds (0: none)

    def __enter__(self) -> CallGuard:
        self.permit = self._breaker.acquire(operation=self._operation, vpc_state=self._vpc_state)
        self._started = self._breaker.now()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        duration_s = max(0.0, self._breaker.now() - self._started)
        if exc_type is not None and (
            issubclass(exc_type, self._ignore) or not issubclass(exc_type, Exception)
        ):
            self._breaker.release_probe(self.permit)
            return
        if exc_type is None:
            self._breaker.record_success(
                duration_s,
                timeout_s=self._timeout_s,
                operation=self._operation,
                vpc_state=self._vpc_state,
            )
        else:
            self._breaker.record_failure(
                exc,
                duration_s=duration_s,
                timeout_s=self._timeout_s,
                operation=self._operation,
                vpc_state=self._vpc_state,
            )

    async def __aenter__(self) -> CallGuard:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)


def protected(func: Callable[..., Any], guard: Callable[[], CallGuard]) -> Callable[..., Any]:
    """`func` (a plain or an `async def` function) with every call made under `guard()`."""
    if getattr(getattr(func, "__code__", None), "co_flags", 0) & _CO_COROUTINE:

        @functools.wraps(func)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            async with guard():
                return await func(*args, **kwargs)

        return run_async

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        call = guard().__enter__()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            call.__exit__(type(exc), exc, exc.__traceback__)
            raise
        if hasattr(result, "__await__"):  # a partial or wrapper of an async function
            return _awaited(call, result)
        call.__exit__(None, None, None)
        return result

    return run


async def _awaited(call: CallGuard, awaitable: Any) -> Any:
    """The call's outcome is the awaitable's, not the function's that made it."""
    try:
        value = await awaitable
    except BaseException as exc:
        call.__exit__(type(exc), exc, exc.__traceback__)
        raise
    call.__exit__(None, None, None)
    return value
