"""Startup telemetry analyzer."""
