-- sink_table_rows: the rows of a Log Router sink table partitioned on `timestamp`, in the scan
-- window only: the filter on the partition column is what bounds the bytes billed.
-- Reads: `sink_table` (the --source table, put in by the engine: an identifier cannot be bound).
-- Parameters: @scan_start, @scan_end (TIMESTAMP); @prior_ts (TIMESTAMP), @prior_insert_id
--   (STRING): the VPC state change in force at the scan's start, however far before it
--   (vpc_state_before.sql), read too; 1970-01-01 and '' when there is none.
-- Returns: the sink table's columns.
SELECT *
FROM `sink_table`
WHERE (timestamp >= @scan_start AND timestamp < @scan_end)
   OR (timestamp = @prior_ts AND insertId = @prior_insert_id)
