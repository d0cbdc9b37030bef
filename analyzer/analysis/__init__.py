"""From events to numbers: phase attempts as arrays, duration estimates, the statistics."""
