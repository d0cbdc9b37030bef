"""The exported config: its model and JSON Schema, export, and checks."""
