"""The telemetry emitter: contract events (docs/telemetry.md §2) as one-line JSON log records that
Cloud Run turns into `jsonPayload`, so `analyze import` and `analyze collect` read them back."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

from analyzer.runtime.telemetry import structured_payload

TYPE_CHECKING = False  # typing costs the service's startup ~10 ms; only checkers need it
if TYPE_CHECKING:
    from typing import Any

LOGGER_NAME = "analyzer.startup"
_LEVELS = {"ERROR": logging.ERROR, "WARNING": logging.WARNING}
_FAILURE_EVENTS = {
    "phase_failed": "ERROR",
    "startup_failed": "ERROR",
    "degradation_applied": "WARNING",
}


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class CloudRunJsonFormatter(logging.Formatter):
    """One JSON object a line: `severity`, `message`, and a telemetry record's event fields.

    Cloud Run lifts `severity` into the LogEntry and keeps the rest as `jsonPayload`.
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"severity": record.levelname, "message": record.getMessage()}
        telemetry = getattr(record, "telemetry", None)
        if isinstance(telemetry, dict):
            line.update((k, _finite(v)) for k, v in telemetry.items())
        if record.exc_info and "stack_trace" not in line:
            line["stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


def emit(event: str, *, logger: logging.Logger | None = None, **fields: Any) -> dict[str, Any]:
    """Log one contract event; returns the payload it wrote."""
    payload = structured_payload(event, fields)
    level = _LEVELS.get(_FAILURE_EVENTS.get(event, "INFO"), logging.INFO)
    (logger or logging.getLogger(LOGGER_NAME)).log(
        level, payload["message"], extra={"telemetry": payload}
    )
    return payload


class StartupTelemetry:
    """The events of one startup, with the env and startup id filled in on each."""

    def __init__(
        self, *, env: str, startup_id: str | None = None, logger: logging.Logger | None = None
    ) -> None:
        self.common = {"env": env, "startup_id": startup_id}
        self.logger = logger

    def event(self, event: str, **fields: Any) -> dict[str, Any]:
        return emit(event, logger=self.logger, **self.common, **fields)

    def started(self) -> None:
        self.event("startup_started")

    def context(self, *, phase: int = 3, **fields: Any) -> dict[str, Any]:
        """`phase_context`: the VPC state now and where it came from (`vpc_state_source`:
        provider, monitor or none), with the fields given (breaker_state, ...)."""
        from analyzer.runtime.calculator import vpc_state_and_source

        state, source = vpc_state_and_source()
        fields.setdefault("vpc_state", state)
        fields.setdefault("vpc_state_source", source)
        return self.event("phase_context", phase=phase, **fields)

    def completed(self) -> None:
        self.event("startup_completed")

    def failed(self, exit_code: int = 3) -> None:
        self.event("startup_failed", exit_code=exit_code)

    @contextmanager
    def phase(
        self,
        phase: int,
        name: str,
        *,
        operation: str = "initialization",
        timeout_s: float | None = None,
        vpc_state: str | None = None,
    ) -> Iterator[None]:
        """Times the block: phase_started, then phase_completed or phase_failed (a timeout when
        the block raises TimeoutError, an error otherwise; the exception goes on)."""
        common = {
            "phase": phase,
            "phase_name": name,
            "operation": operation,
            "timeout_s": timeout_s,
            "vpc_state": vpc_state,
        }
        self.event("phase_started", **common)
        started = time.monotonic()
        try:
            yield
        except TimeoutError as exc:  # asyncio.TimeoutError is this one since Python 3.11
            waited = time.monotonic() - started
            self.event(
                "phase_failed",
                outcome="timeout",
                duration_s=waited,
                error_type=type(exc).__name__,
                **common,
            )
            raise
        except Exception as exc:
            self.event(
                "phase_failed",
                outcome="error",
                duration_s=time.monotonic() - started,
                error_type=type(exc).__name__,
                error=str(exc),
                **common,
            )
            raise
        self.event("phase_completed", duration_s=time.monotonic() - started, **common)
