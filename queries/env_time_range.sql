-- env_time_range: the first and last event time of one env (NULLs when it has none).
-- Read from the segments directly: a repeated entry cannot move either end, so the
-- deduplication of `events` is not needed here.
-- Parameters: $env. Returns one row: first_ts, last_ts.
SELECT min(ts) AS first_ts, max(ts) AS last_ts
FROM lake_rows
WHERE env = $env
