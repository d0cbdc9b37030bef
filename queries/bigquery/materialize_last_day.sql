-- materialize_last_day: for each env of @envs the materialised table (`materialized_table`, the
-- --dest) holds between @scan_start (FIRST_FILL back) and @scan_end (the last midnight UTC
-- three hours ago or more), its
-- last entry time: the next MERGE starts the day after the earliest of those days (an env with
-- none starts FIRST_FILL back). Reads the ts and env columns of those days' partitions only.
-- Parameters: @envs (ARRAY<STRING>), @scan_start, @scan_end (TIMESTAMP).
-- Returns: env, last_ts (TIMESTAMP).
SELECT env, MAX(ts) AS last_ts
FROM `materialized_table`
WHERE env IN UNNEST(@envs) AND ts >= @scan_start AND ts < @scan_end
GROUP BY env
