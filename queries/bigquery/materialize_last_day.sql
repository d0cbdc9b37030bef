-- materialize_last_day: the last entry time the materialised table (`materialized_table`, the
-- --dest) holds for @env between @scan_start (the --since) and @scan_end (today's midnight
-- UTC), NULL when it holds none: the next MERGE starts the day after that entry's day. Reads
-- the ts and env columns of those days' partitions only.
-- Parameters: @env (STRING), @scan_start, @scan_end (TIMESTAMP).
-- Returns: last_ts (TIMESTAMP).
SELECT MAX(ts) AS last_ts
FROM `materialized_table`
WHERE env = @env AND ts >= @scan_start AND ts < @scan_end
