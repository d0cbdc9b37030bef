"""A batch's new rows written as hive-partitioned segment files, then published.

One COPY per partition (a day of an env), two at a time: on this kind of input DuckDB's
partitioned COPY took twice as long, holding every partition's row group open at once.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import duckdb

from analyzer.errors import AnalyzerError
from analyzer.lake.store import Store, segment_pattern

WRITERS = 2


def write_segments(
    con: duckdb.DuckDBPyConnection, store: Store, query: str, kind: str, partition_by: list[str]
) -> tuple[int, int]:
    """Write the rows of `query` as segments of `kind`, one per value of `partition_by`, and
    publish them (event segments sealed): (rows, segments). The tables the query reads must
    not be TEMP ones: each writer has a cursor of its own."""
    columns = ", ".join(partition_by)
    partitions = con.execute(f"SELECT {columns}, count(*) FROM ({query}) GROUP BY ALL").fetchall()
    if not partitions:
        return 0, 0
    staged = store.new_staging_dir()
    name = segment_pattern()
    where = " AND ".join(f"{column} IS NOT DISTINCT FROM ?" for column in partition_by)

    def write(partition: tuple[object, ...]) -> int:
        *key, expected = partition
        folder = staged.joinpath(
            *(f"{c}={'NULL' if v is None else v}" for c, v in zip(partition_by, key, strict=True))
        )
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / (name.replace("{uuid}", uuid.uuid4().hex) + ".parquet")
        cursor = con.cursor()
        try:
            cursor.execute("SET VARIABLE segment_file = ?", [str(target)])
            ((rows,),) = cursor.execute(
                f"COPY (SELECT * FROM ({query}) WHERE {where}) TO (getvariable('segment_file')) "
                "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, WRITE_BLOOM_FILTER false)",
                key,
            ).fetchall()
        finally:
            cursor.close()
        if rows != expected:
            raise AnalyzerError(f"wrote {rows:,} of {expected:,} rows; nothing was published")
        return int(rows)

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        written = sum(pool.map(write, partitions))  # a writer's error stops here: none published
    return written, len(store.publish(staged, kind, seal=kind == "events"))
