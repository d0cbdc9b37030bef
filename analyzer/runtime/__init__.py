"""What services import at startup: stdlib only, so it costs the startup it measures nothing."""

from analyzer.runtime.telemetry import EVENTS, structured_payload, text_line

__all__ = ["EVENTS", "structured_payload", "text_line"]
