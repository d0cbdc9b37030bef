"""The config as `KEY=VALUE` lines (`analyze export --format env`), written and read back."""

from __future__ import annotations

import json

TYPE_CHECKING = False  # typing costs the service's startup ~10 ms; only checkers need it
if TYPE_CHECKING:
    from typing import Any

PREFIX = "ANALYZER_"
_SCALARS = ("schema_version", "env")
_SECTIONS = ("breaker", "pool", "vpc", "provenance")


def _timeout_lines(entries: list[dict[str, Any]], name: str, suffix: str = "") -> list[str]:
    lines = []
    for entry in entries:
        if entry.get("source", "recommended") != "recommended":
            lines.append(f"# carried over (no evidence in the window): {entry['source']}")
        lines.append(
            f"{PREFIX}{name}__{entry['phase']}__{entry['operation'].upper()}__"
            f"{entry['vpc_state'].upper()}{suffix}={entry['timeout_s']}"
        )
    return lines


def to_env_lines(document: dict[str, Any]) -> str:
    """`ANALYZER_TIMEOUT__<phase>__<OPERATION>__<STATE>=<s>` per timeout of the env default,
    `ANALYZER_SERVICE_TIMEOUT__<phase>__<OPERATION>__<STATE>__<SERVICE>=<s>` per timeout of a
    service's section (its name upper-cased, hyphens as `_`: Cloud Run's names have no `_`),
    one line per setting."""
    lines = [f"{PREFIX}{key.upper()}={document[key]}" for key in _SCALARS if key in document]
    lines += _timeout_lines(document.get("timeouts", []), "TIMEOUT")
    for service, section in document.get("services", {}).items():
        suffix = "__" + str(service).upper().replace("-", "_")
        lines += _timeout_lines(section.get("timeouts", []), "SERVICE_TIMEOUT", suffix)
    for section in _SECTIONS:
        for key, value in document.get(section, {}).items():
            lines.append(f"{PREFIX}{section.upper()}__{key.upper()}={json.dumps(value)}")
    return "\n".join(lines) + "\n"


def _entry(parts: list[str], value: str) -> dict[str, Any]:
    return {
        "phase": int(parts[1]),
        "operation": parts[2].lower(),
        "vpc_state": parts[3].lower(),
        "timeout_s": float(value),
    }


def from_env_lines(text: str) -> dict[str, Any]:
    """The config document back from `KEY=VALUE` lines (comments and blanks ignored)."""
    document: dict[str, Any] = {"timeouts": []}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.startswith(PREFIX):
            raise ValueError(f"line {number}: expected {PREFIX}NAME=VALUE")
        name = key[len(PREFIX) :]
        parts = name.split("__")
        if parts[0] == "TIMEOUT" and len(parts) == 4:
            document["timeouts"].append(_entry(parts, value))
        elif parts[0] == "SERVICE_TIMEOUT" and len(parts) >= 5:
            service = "__".join(parts[4:]).lower().replace("_", "-")
            sections = document.setdefault("services", {})
            sections.setdefault(service, {"timeouts": []})["timeouts"].append(_entry(parts, value))
        elif parts[0].lower() in _SECTIONS and len(parts) == 2:
            document.setdefault(parts[0].lower(), {})[parts[1].lower()] = json.loads(value)
        elif name.lower() == "schema_version":
            document["schema_version"] = int(value)
        elif name.lower() in _SCALARS:
            document[name.lower()] = value
        else:
            raise ValueError(f"line {number}: unknown setting {key}")
    return document
