-- env_time_range: the first and last event time of one env in the scan window (NULLs when it
-- has none). A repeated entry cannot move either end, so lake_rows (not deduplicated) suffices.
-- Reads: lake_rows. Parameters: @env.
-- Returns one row: first_ts, last_ts.
SELECT MIN(ts) AS first_ts, MAX(ts) AS last_ts
FROM lake_rows
WHERE env = @env
