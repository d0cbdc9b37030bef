"""The contract's events (docs/telemetry.md §2) as payloads, and the seed's text line for each
(§3)."""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs the service's startup ~10 ms; only checkers need it
if TYPE_CHECKING:
    from typing import Any

EVENTS = (
    "startup_started",
    "phase_started",
    "timeout_calculated",
    "phase_completed",
    "phase_failed",
    "phase_context",
    "degradation_applied",
    "breaker_transition",
    "vpc_state_changed",
    "startup_completed",
    "startup_failed",
    # v1.1
    "config_loaded",
    "breaker_summary",
)

# config_loaded's outcomes: the file's own section (or the file, without sections) is in force;
# the file's env default, as it has no section for the service; the file is for another env;
# no usable file (missing, unreadable, invalid or not given). The last two run the built-in
# defaults.
CONFIG_OUTCOMES = ("loaded", "section-missing", "env-mismatch", "fallback")

# breaker_summary's fields after its calls, failures and state, in its text line's order
SUMMARY_DETAILS = (
    "window_s",
    "slow_calls",
    "slow_threshold_s",
    "rejected",
    "vpc_state",
    "operation",
    "vpc_state_source",
)

_BREAKER_LINES = {
    "OPEN": "Database circuit breaker: Opening circuit due to repeated failures",
    "HALF_OPEN": "Database circuit breaker: Attempting half-open state",
    "CLOSED": "Database circuit breaker: Success recorded, closing circuit",
}


def text_line(event: str, fields: dict[str, Any]) -> str:
    """The line a seed-following service prints for this event (docs/telemetry.md §3)."""
    phase = fields.get("phase")
    name = str(fields.get("phase_name") or "database")
    if event == "startup_started":
        return "SMD startup sequence beginning"
    if event == "phase_started":
        return f"SMD Phase {phase}: {name.capitalize()} initialization starting"
    if event == "timeout_calculated":
        base = float(fields.get("base_timeout_s", fields["timeout_s"]))
        vpc_aware = float(fields.get("vpc_aware_timeout_s", fields["timeout_s"]))
        final = float(fields["timeout_s"])
        return (
            f"SMD Phase {phase} timeout calculation: "
            f"base={base}s, vpc_aware={vpc_aware}s, final={final}s"
        )
    if event == "phase_completed":
        return f"SMD Phase {phase} completed successfully in {float(fields['duration_s']):.2f}s"
    if event == "phase_failed":
        if fields.get("outcome") == "timeout":
            waited = float(fields.get("duration_s", fields.get("timeout_s", 0.0)))
            return f"SMD Phase {phase} {name} initialization timeout after {waited}s"
        return f"SMD Phase {phase} {name} initialization failed: {fields.get('error', '')}"
    if event == "phase_context":
        return (
            f"VPC connector state: {fields.get('vpc_state', 'unknown')}, "
            f"Circuit breaker: {fields.get('breaker_state', 'CLOSED')}"
        )
    if event == "vpc_state_changed":
        utilization = float(fields.get("vpc_utilization", 0.0))
        return (
            f"VPC connector capacity state changed: {fields['from_state']} -> "
            f"{fields['to_state']} (utilization={utilization:.2f})"
        )
    if event == "breaker_transition":
        return _BREAKER_LINES[str(fields["to_state"])]
    if event == "degradation_applied":
        return "Database fallback applied - service operating in degraded mode"
    if event == "startup_completed":
        return "SMD startup sequence completed"
    if event == "startup_failed":
        return f"SMD startup failed: container exit code {fields.get('exit_code', 3)}"
    if event == "config_loaded":
        if fields.get("outcome") in ("loaded", "section-missing"):
            # With `section-missing`, the error says why the service does not run its own section.
            note = f"; {fields['error']}" if fields.get("error") else ""
            return (
                f"Timeout config loaded from {fields.get('config_path')} (env {fields.get('env')}, "
                f"generated {fields.get('generated_at')}, sha256 "
                f"{str(fields.get('config_sha256'))[:12]}){note}"
            )
        return f"Timeout config not used, built-in defaults in force: {fields.get('error')}"
    if event == "breaker_summary":
        # the rest of the fields as key=value, so a service that logs text only is read whole
        details = " ".join(
            f"{name}={fields[name]}" for name in SUMMARY_DETAILS if fields.get(name) is not None
        )
        return (
            f"Circuit breaker summary: {fields.get('calls', 0)} calls, "
            f"{fields.get('failures', 0)} failures, state {fields.get('breaker_state', 'CLOSED')} "
            f"({details})"
        )
    raise ValueError(f"unknown telemetry event {event!r}; expected one of {', '.join(EVENTS)}")


def structured_payload(event: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The `jsonPayload` of an event: its fields (None left out) and the text line as `message`."""
    payload: dict[str, Any] = {"event": event, "message": text_line(event, fields)}
    payload.update((key, value) for key, value in fields.items() if value is not None)
    return payload
