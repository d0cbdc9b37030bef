-- sink_shard_rows: the rows of a date-sharded Log Router sink (one table per day,
-- `<log>_YYYYMMDD`), in the scan window only: the shards are chosen by _TABLE_SUFFIX, the rows
-- by `timestamp` (a shard holds the entries of its UTC day).
-- Reads: `sink_table_*` (the --source prefix, put in by the engine).
-- Parameters: @scan_start, @scan_end (TIMESTAMP).
-- Returns: the sink table's columns.
SELECT *
FROM `sink_table_*`
WHERE _TABLE_SUFFIX BETWEEN FORMAT_TIMESTAMP('%Y%m%d', @scan_start, 'UTC')
                        AND FORMAT_TIMESTAMP('%Y%m%d', @scan_end, 'UTC')
  AND timestamp >= @scan_start AND timestamp < @scan_end
