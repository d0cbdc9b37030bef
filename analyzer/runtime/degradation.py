"""Graceful degradation when a startup phase fails, and the VPC monitor the seed asks for."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from analyzer.runtime.calculator import current_vpc_state
from analyzer.runtime.emitter import emit

# A fallback gets the app state and the error, and returns True when the service can go on.
Fallback = Callable[[Any, BaseException], bool]


@dataclass(frozen=True)
class DegradationResult:
    phase: str
    fallback_applied: bool
    timeout_occurred: bool
    reason: str


@dataclass
class DegradationManager:
    """Knows which phases may fall back, and whether the service can still serve."""

    app_state: Any
    fallbacks: dict[str, Fallback] = field(default_factory=dict)
    failed: dict[str, DegradationResult] = field(default_factory=dict)

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


@dataclass(frozen=True)
class VpcMonitor:
    """The seed's monitor: `current_state.value` is the state the registered provider gives."""

    env: str

    @property
    def current_state(self) -> VpcCapacityState:
        try:
            return VpcCapacityState(current_vpc_state())
        except ValueError:
            return VpcCapacityState.UNKNOWN


def get_vpc_monitor(env: str) -> VpcMonitor:
    return VpcMonitor(env)
