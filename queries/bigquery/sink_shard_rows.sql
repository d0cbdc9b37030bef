-- sink_shard_rows: the rows of one day's shard of a date-sharded Log Router sink
-- (`<log>_YYYYMMDD`, the entries of one UTC day) in the scan window. A sink adds a payload
-- column to a day's shard only when an entry of that day first carries it, so shards differ:
-- the engine reads each shard in the window by its own name with its own columns (NULL for the
-- fields it lacks), the shards' selects joined by UNION ALL. A wildcard (`<log>_*`) would read
-- every shard with the newest one's schema, a field it lacks NULL across the window.
-- Reads: `sink_shard` (one shard, put in by the engine: an identifier cannot be bound).
-- Parameters: @scan_start, @scan_end (TIMESTAMP).
-- Returns: the shard's columns.
SELECT *
FROM `sink_shard`
WHERE timestamp >= @scan_start AND timestamp < @scan_end
