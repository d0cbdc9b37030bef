"""Graceful degradation when a startup phase fails, and the VPC monitor the seed asks for."""

from __future__ import annotations

import enum
from collections.abc import Callable

from analyzer.runtime.calculator import vpc_state_and_source
from analyzer.runtime.emitter import emit

TYPE_CHECKING = False  # typing costs the service's startup ~10 ms; only checkers need it
if TYPE_CHECKING:
    from typing import Any

# A fallback gets the app state and the error, and returns True when the service can go on.
Fallback = Callable[[object, BaseException], bool]


class DegradationResult:
    __slots__ = ("fallback_applied", "phase", "reason", "timeout_occurred")

    def __init__(self, phase: str, fallback_applied: bool, timeout_occurred: bool, reason: str):
        self.phase = phase
        self.fallback_applied = fallback_applied
        self.timeout_occurred = timeout_occurred
        self.reason = reason


class DegradationManager:
    """Knows which phases may fall back, and whether the service can still serve."""

    def __init__(self, app_state: Any) -> None:
        self.app_state = app_state
        self.fallbacks: dict[str, Fallback] = {}
        self.failed: dict[str, DegradationResult] = {}

    def register_fallback(self, phase: str, fallback: Fallback) -> None:
        self.fallbacks[phase] = fallback

    def is_service_available(self) -> bool:
        return all(result.fallback_applied for result in self.failed.values())

    def is_degraded(self) -> bool:
        return any(result.fallback_applied for result in self.failed.values())

    def handle_failure(
        self, phase: str, error: BaseException, *, timeout_occurred: bool
    ) -> DegradationResult:
        fallback = self.fallbacks.get(phase)
        applied = False
        reason = "no fallback registered for this phase"
        if fallback is not None:
            try:
                applied = bool(fallback(self.app_state, error))
                reason = "fallback applied" if applied else "fallback declined"
            except Exception as exc:
                reason = f"fallback failed: {type(exc).__name__}: {exc}"
        result = DegradationResult(phase, applied, timeout_occurred, reason)
        self.failed[phase] = result
        if applied:
            emit("degradation_applied", fallback_applied=True, phase_name=phase)
        return result


_ATTRIBUTE = "_analyzer_degradation_manager"


def get_degradation_manager(app_state: Any) -> DegradationManager:
    """The manager kept on the app state (made on first use)."""
    manager = getattr(app_state, _ATTRIBUTE, None)
    if not isinstance(manager, DegradationManager):
        manager = DegradationManager(app_state)
        setattr(app_state, _ATTRIBUTE, manager)
    return manager


async def handle_startup_phase_failure(
    app_state: Any, phase: str, error: BaseException, timeout_occurred: bool = False
) -> DegradationResult:
    return get_degradation_manager(app_state).handle_failure(
        phase, error, timeout_occurred=timeout_occurred
    )


class VpcCapacityState(enum.StrEnum):
    HEALTHY = "healthy"
    SCALING = "scaling"
    PRESSURE = "pressure"
    CRITICAL = "critical"
    UNKNOWN = "unknown"


class VpcMonitor:
    """The seed's monitor: `current_state.value` is the state the registered provider gives,
    else the built-in monitor's (`$ANALYZER_VPC_CONNECTOR` or the config's `vpc.connector`),
    else `unknown`; `source` says which."""

    def __init__(self, env: str) -> None:
        self.env = env

    @property
    def current_state(self) -> VpcCapacityState:
        return self.current_state_and_source[0]

    @property
    def current_state_and_source(self) -> tuple[VpcCapacityState, str]:
        state, source = vpc_state_and_source()
        try:
            return VpcCapacityState(state), source
        except ValueError:
            return VpcCapacityState.UNKNOWN, source

    @property
    def source(self) -> str:
        return self.current_state_and_source[1]


def get_vpc_monitor(env: str) -> VpcMonitor:
    return VpcMonitor(env)
