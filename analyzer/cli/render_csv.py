"""`--format csv`: a command's rows as CSV for spreadsheets and scripts, one header row."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

# Every command's CSV opens with the key columns it has, in this order: rows of two commands
# join on them.
KEY_COLUMNS = ("env", "service", "phase", "operation", "vpc_state")


def csv_text(records: Iterable[Mapping[str, Any]]) -> str:
    """Records as CSV: nested mappings and lists become dotted columns (`quantiles_s.p99`,
    `ci_s.0`); the key columns first (KEY_COLUMNS), then the others in the order they first
    appear; a missing value an empty cell."""
    flat = [dict(_flatten(record)) for record in records]
    columns: dict[str, None] = {}
    for row in flat:
        columns.update(dict.fromkeys(row))
    keys = [c for c in KEY_COLUMNS if c in columns]
    out = io.StringIO()
    fieldnames = keys + [c for c in columns if c not in keys]
    writer = csv.DictWriter(out, fieldnames=fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return out.getvalue().rstrip("\n")


def _flatten(value: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(value, Mapping):
        items: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        yield prefix, value
        return
    for key, item in items:
        yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
