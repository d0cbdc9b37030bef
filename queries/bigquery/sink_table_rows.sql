-- sink_table_rows: the rows of a Log Router sink table partitioned on `timestamp`, in the scan
-- window only: the filter on the partition column is what bounds the bytes billed.
-- Reads: `sink_table` (the --source table, put in by the engine: an identifier cannot be bound).
-- Parameters: @scan_start, @scan_end (TIMESTAMP).
-- Returns: the sink table's columns.
SELECT *
FROM `sink_table`
WHERE timestamp >= @scan_start AND timestamp < @scan_end
