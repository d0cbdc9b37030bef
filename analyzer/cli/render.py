"""Plain-text tables and figures for the terminal (units beside every number), and dataclass
records as the JSON pydantic would print for them."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import fields, is_dataclass
from datetime import datetime


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A left-aligned text table; numbers right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    numeric = [
        all(isinstance(row[i], int | float) or row[i] is None for row in rows) and bool(rows)
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(row) for row in cells)
    return "\n".join(out)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%SZ")
    return str(value)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ")


def plain(value: object) -> object:
    """A dataclass record as JSON-ready values, as pydantic's JSON mode gives a model's: nested
    records as objects in field order, lists as lists, instants in ISO 8601 with `Z` for UTC."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        text = value.isoformat()
        return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text
    return value


def json_text(value: object, level: int = 0) -> str:
    """`plain` values as JSON indented by 2, byte for byte as pydantic's `model_dump_json`
    prints them: numbers too (0.00009523809523809524, not Python's 9.523809523809524e-05; NaN
    and infinities as null)."""
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(value, Mapping) and value:
        items = (f"{inner}{_string(k)}: {json_text(v, level + 1)}" for k, v in value.items())
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value:
        return "[\n" + ",\n".join(inner + json_text(v, level + 1) for v in value) + f"\n{pad}]"
    if isinstance(value, float):
        return _number(value)
    return json.dumps(value, ensure_ascii=False)


def _string(key: object) -> str:
    return json.dumps(str(key), ensure_ascii=False)


def _number(value: float) -> str:
    """A float as pydantic (serde_json) writes it: Python's shortest digits, written out in
    full down to 1e-5 and with an unpadded exponent beyond (`5e-6`, `1e+16`)."""
    if not math.isfinite(value):
        return "null"
    text = repr(value)
    if "e" not in text:
        return text
    digits, _, exponent = text.partition("e")
    power = int(exponent)
    if power == -5:  # Python writes 0.0000x with an exponent, serde_json in full
        from decimal import Decimal

        return format(Decimal(text), "f")
    return f"{digits}e{power:+d}" if power > 0 else f"{digits}e{power}"
