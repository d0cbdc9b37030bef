-- events: the event log, one row per telemetry entry, deduplicated by insert id: a sink and
-- `_AllLogs` both keep the repeats Cloud Logging delivers. Of the rows of one insert id, the
-- one received first wins (then the earliest timestamp), as the lake keeps the first ingested.
-- Reads: lake_rows (lake_rows.sql). Parameters: none.
-- Returns: the columns of lake_rows.sql.
SELECT *
FROM lake_rows
WHERE TRUE
QUALIFY ROW_NUMBER() OVER (PARTITION BY insert_id ORDER BY receive_ts, ts) = 1
