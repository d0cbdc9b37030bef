"""What a BigQuery engine query scans, on paper: the logical bytes of the sink columns the
GoogleSQL reads, by BigQuery's published sizes (STRING 2 + UTF-8 bytes, TIMESTAMP and FLOAT64
8, BOOL 1, NULL 0), over the generator's entries (telemetry and the noise lines beside it),
scaled to a sink table of --entries entries, priced at --usd-per-tib (on-demand).

    uv run python benchmarks/bigquery_scan_bytes.py --entries 100000000
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from analyzer.engine.bigquery_sql import SINK_FIELDS
from analyzer.simulate import SimulationManifest, SimulationSpec, simulate_entries
from tests.bigquery_tables import sink_row


def _leaves(tree: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for name, kind in tree.items():
        out += _leaves(kind, f"{prefix}{name}.") if isinstance(kind, dict) else [prefix + name]
    return out


def _size(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        return 1
    if isinstance(value, int | float):
        return 8
    if isinstance(value, str) and value[:4].isdigit() and "T" in value[:11]:
        return 8  # an RFC 3339 timestamp, stored as TIMESTAMP
    return 2 + len(str(value).encode())


def _get(row: dict[str, Any], path: str) -> object:
    value: Any = row
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000_000)
    parser.add_argument("--usd-per-tib", type=float, default=6.25)
    args = parser.parse_args()
    columns = _leaves(SINK_FIELDS)
    for form in ("structured", "text"):
        spec = SimulationSpec(
            env="production", days=2, form=form, start=datetime(2026, 11, 2, tzinfo=UTC)
        )  # type: ignore[arg-type]
        manifest = SimulationManifest(env="production", form=form, start="", end="")
        rows = [sink_row(e) for e in simulate_entries(spec, manifest)]
        per_column = {c: sum(_size(_get(r, c)) for r in rows) / len(rows) for c in columns}
        per_entry = sum(per_column.values())
        total = per_entry * args.entries
        print(
            f"{form}: {len(rows):,} entries sampled, {per_entry:,.0f} bytes an entry over the "
            f"{len(columns)} columns read; {args.entries:,} entries: {total / 2**30:,.1f} GiB, "
            f"${total / 2**40 * args.usd_per_tib:,.2f} at ${args.usd_per_tib}/TiB"
        )
        top = sorted(per_column.items(), key=lambda kv: -kv[1])[:4]
        print("   largest: " + ", ".join(f"{c} {b:.0f} B" for c, b in top))


if __name__ == "__main__":
    main()
