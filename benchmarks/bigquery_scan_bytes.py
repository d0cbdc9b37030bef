"""What a BigQuery engine query scans, on paper: the logical bytes of the sink columns the
GoogleSQL reads, by BigQuery's published sizes (STRING 2 + UTF-8 bytes, TIMESTAMP and FLOAT64
8, BOOL 1, NULL 0), over the generator's entries (telemetry and the noise lines beside it),
scaled to a sink table of --entries entries, priced at --usd-per-tib (on-demand).

Then the materialised table (`analyze bigquery materialize`) at --entries a week over --envs
envs: (a) the daily materialise, which reads each raw day once; (b) a recommend over the table
(one env's rows over the 37 days a 28-day recommend fetches: its window, a day's margin and
the --lookback before it for the VPC state) against (c) the same recommend over the raw sink;
and the weekly cost. The telemetry share of the entries is that of a stated fleet
(--services-per-env, --startups-per-service-day), its rows per startup and bytes per row
measured on the generator's structured events in the lake's columns (the generator's noise
lines are no realistic share of a service's logs).

    uv run python benchmarks/bigquery_scan_bytes.py --entries 100000000
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analyzer.engine.bigquery_sql import LAKE_COLUMNS, SINK_FIELDS
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


GIB, TIB = 2**30, 2**40
MIN_BILLED = 10 * 2**20  # BigQuery bills at least 10 MB a query
FETCH_DAYS = 37  # a 28-day recommend's fetch: its window, a day's margin, the 8-day lookback
LOOKUP_DAYS = 35  # materialize's look for the table's last day of the env (FIRST_FILL)
# The payload fields the materialised table keeps (telemetry_rows.sql), on the events the
# lake's queries read them from (materialize_rows.sql); other rows hold no payload.
PAYLOAD_KEPT = (
    "window_s", "calls", "failures", "slow_calls", "slow_threshold_s", "rejected",
    "vpc_state_source", "outcome", "config_path", "generated_at", "config_sha256", "run_id",
    "error", "vpc_instances", "vpc_max_instances",
)  # fmt: skip
PAYLOAD_EVENTS = ("breaker_summary", "config_loaded", "vpc_state_changed")


@dataclass(frozen=True)
class Materialised:
    """The figures of the materialised table at `entries` a week over `envs` envs (bytes are
    BigQuery's logical bytes; a week's are 7 days')."""

    entries: int
    envs: int
    services_per_env: int
    startups_per_service_day: float
    rows_per_startup: float  # measured
    bytes_per_row: float  # measured: a telemetry row in the lake's columns
    bytes_per_entry: float  # measured: a raw sink entry's columns read
    telemetry_rows_week: float
    telemetry_share: float
    materialise_week_bytes: float  # (a): each raw byte read once (a sink per env, or every env
    # of one table in one MERGE: --env a,b,c,d)
    materialise_week_bytes_env_by_env: float  # (a) from one table, a MERGE an env
    recommend_table_bytes: float  # (b), billed at least 10 MB
    recommend_raw_bytes_one_table: float  # (c)
    recommend_raw_bytes_sink_per_env: float  # (c)
    ratio_one_table: float  # (b) / (c)
    ratio_sink_per_env: float
    usd_per_tib: float
    weekly_usd: float  # 7 materialises and a recommend an env, each raw byte read once
    weekly_usd_env_by_env: float  # the same, one table's envs materialised one by one


def _lake_size(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime | int | float):
        return 8
    return 2 + len(str(value).encode())


def measured_rows(days: int = 2) -> tuple[float, float, float]:
    """The generator's structured events imported into a lake: telemetry rows per startup,
    logical bytes of a row in the lake's columns (payload as the materialised table keeps
    it), and bytes read of a raw sink entry."""
    from analyzer.engine import local_engine
    from analyzer.ingest.importer import import_paths
    from analyzer.lake.store import Store

    spec = SimulationSpec(env="production", days=days, start=datetime(2026, 11, 2, tzinfo=UTC))
    manifest = SimulationManifest(env="production", form="structured", start="", end="")
    entries = list(simulate_entries(spec, manifest))
    raw = [sink_row(e) for e in entries]
    leaves = _leaves(SINK_FIELDS)
    per_entry = sum(_size(_get(r, c)) for r in raw for c in leaves) / len(raw)
    with tempfile.TemporaryDirectory() as folder:
        export = Path(folder) / "entries.jsonl"
        export.write_text("".join(json.dumps(e) + "\n" for e in entries))
        store = Store(Path(folder) / "lake")
        import_paths([export], env="production", store=store)
        names = [name for name, _ in LAKE_COLUMNS]
        rows = local_engine(store).ask(
            lambda c: c.execute(f"SELECT {', '.join(names)} FROM events").fetchall()
        )
    total, startups = 0, 0
    for row in rows:
        record = dict(zip(names, row, strict=True))
        startups += record["event"] == "startup_started"
        payload = None
        if record["event"] in PAYLOAD_EVENTS:
            given = json.loads(record["payload"] or "{}")
            kept = {k: given.get(k) for k in PAYLOAD_KEPT}
            payload = json.dumps(kept, separators=(",", ":"))
        record["payload"] = payload
        total += sum(_lake_size(v) for v in record.values())
    return len(rows) / startups, total / len(rows), per_entry


def materialised(
    *,
    entries: int,
    envs: int,
    services_per_env: int,
    startups_per_service_day: float,
    rows_per_startup: float,
    bytes_per_row: float,
    bytes_per_entry: float,
    usd_per_tib: float,
) -> Materialised:
    """The figures, each from the ones before it (docs/bigquery.md gives the arithmetic)."""
    rows_week = envs * services_per_env * startups_per_service_day * 7 * rows_per_startup
    raw_week = entries * bytes_per_entry  # every entry of every env, read once
    # (a) the daily MERGE reads the raw day once: each env's own sink, or one table's envs
    # together; a MERGE an env over one table reads the whole day each time
    materialise_once = raw_week
    materialise_env_by_env = envs * raw_week
    # the MERGE's read of the table's days (insert_id ~24 B, ts 8, env ~12) and the daily look
    # for the env's last day (ts and env over 35 days), each billed at least 10 MB
    merge_read = max(rows_week / envs / 7 * 44, MIN_BILLED) * envs * 7
    lookups = max(rows_week / envs / 7 * LOOKUP_DAYS * 20, MIN_BILLED) * envs * 7
    # (b) one env's recommend over the table, (c) over the raw sink, each over FETCH_DAYS
    table = max(rows_week / envs * FETCH_DAYS / 7 * bytes_per_row, MIN_BILLED)
    raw_shared = entries * FETCH_DAYS / 7 * bytes_per_entry
    raw_own = raw_shared / envs
    price = usd_per_tib / TIB
    recommends = envs * table  # the weekly job: one recommend an env
    return Materialised(
        entries=entries,
        envs=envs,
        services_per_env=services_per_env,
        startups_per_service_day=startups_per_service_day,
        rows_per_startup=rows_per_startup,
        bytes_per_row=bytes_per_row,
        bytes_per_entry=bytes_per_entry,
        telemetry_rows_week=rows_week,
        telemetry_share=rows_week / entries,
        materialise_week_bytes=materialise_once,
        materialise_week_bytes_env_by_env=materialise_env_by_env,
        recommend_table_bytes=table,
        recommend_raw_bytes_one_table=raw_shared,
        recommend_raw_bytes_sink_per_env=raw_own,
        ratio_one_table=table / raw_shared,
        ratio_sink_per_env=table / raw_own,
        usd_per_tib=usd_per_tib,
        weekly_usd=(materialise_once + merge_read + lookups + recommends) * price,
        weekly_usd_env_by_env=(materialise_env_by_env + merge_read + lookups + recommends) * price,
    )


def _print_materialised(m: Materialised) -> None:
    usd = m.usd_per_tib / TIB
    print(
        f"\nthe materialised table: {m.entries:,} entries a week, {m.envs} envs; an assumed "
        f"fleet of {m.services_per_env} services an env, {m.startups_per_service_day:g} "
        f"startups a day each; measured: {m.rows_per_startup:.1f} telemetry rows a startup, "
        f"{m.bytes_per_row:.0f} bytes a row, {m.bytes_per_entry:.0f} bytes a raw entry read"
    )
    print(
        f"  telemetry: {m.telemetry_rows_week:,.0f} rows a week "
        f"({m.telemetry_share:.2%} of the entries)"
    )
    print(
        f"  (a) daily materialise, a week: {m.materialise_week_bytes / GIB:,.1f} GiB "
        f"(${m.materialise_week_bytes * usd:.3f}), each raw byte read once (a sink per env, or "
        f"one table's envs together); {m.materialise_week_bytes_env_by_env / GIB:,.1f} GiB "
        f"(${m.materialise_week_bytes_env_by_env * usd:.2f}) from one table env by env"
    )
    print(
        f"  (b) recommend over the table, one env, {FETCH_DAYS} days: "
        f"{m.recommend_table_bytes / 2**20:,.1f} MiB (${m.recommend_table_bytes * usd:.4f})"
    )
    print(
        f"  (c) the same over the raw sink: {m.recommend_raw_bytes_one_table / GIB:,.1f} GiB "
        f"(one table), {m.recommend_raw_bytes_sink_per_env / GIB:,.1f} GiB (a sink per env); "
        f"(b)/(c) {m.ratio_one_table:.3%} / {m.ratio_sink_per_env:.3%} (goal: under 1 %)"
    )
    print(
        f"  weekly, {m.envs} envs (7 daily materialises and a recommend an env): "
        f"${m.weekly_usd:.3f} (goal: under $0.25); ${m.weekly_usd_env_by_env:.2f} from one "
        "table env by env"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000_000)
    parser.add_argument("--usd-per-tib", type=float, default=6.25)
    parser.add_argument("--envs", type=int, default=4)
    parser.add_argument("--services-per-env", type=int, default=20)
    parser.add_argument("--startups-per-service-day", type=float, default=48)
    parser.add_argument("--sample-days", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="the materialised figures as JSON")
    args = parser.parse_args()
    columns = _leaves(SINK_FIELDS)
    for form in ("structured", "text"):
        spec = SimulationSpec(
            env="production",
            days=args.sample_days,
            form=form,  # type: ignore[arg-type]
            start=datetime(2026, 11, 2, tzinfo=UTC),
        )
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
    per_startup, per_row, per_raw_entry = measured_rows(args.sample_days)
    figures = materialised(
        entries=args.entries,
        envs=args.envs,
        services_per_env=args.services_per_env,
        startups_per_service_day=args.startups_per_service_day,
        rows_per_startup=per_startup,
        bytes_per_row=per_row,
        bytes_per_entry=per_raw_entry,
        usd_per_tib=args.usd_per_tib,
    )
    _print_materialised(figures)
    if args.json:
        print(json.dumps(asdict(figures), indent=2))


if __name__ == "__main__":
    main()
