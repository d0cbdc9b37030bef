-- sink_ingestion_rows: the rows of a Log Router sink table partitioned by ingestion time (no
-- partition column: a table made so by hand, or older sinks' tables) in the scan window only.
-- A row's partition is the day BigQuery received it, the entry's day or later (a late
-- delivery): the filter on _PARTITIONTIME prunes the days outside the scan, a day after its end
-- kept for late rows, and the filter on `timestamp` picks the scan's rows.
-- Reads: `sink_table` (the --source table, put in by the engine).
-- Parameters: @scan_start, @scan_end (TIMESTAMP).
-- Returns: the sink table's columns.
SELECT *
FROM `sink_table`
WHERE _PARTITIONTIME >= TIMESTAMP_TRUNC(@scan_start, DAY)
  AND _PARTITIONTIME < TIMESTAMP_ADD(@scan_end, INTERVAL 1 DAY)
  AND timestamp >= @scan_start AND timestamp < @scan_end
