-- env_time_range: the first and last event time of one env (NULLs when it has none).
-- Parameters: $env. Returns one row: first_ts, last_ts, events.
SELECT min(ts) AS first_ts, max(ts) AS last_ts, count(*) AS events
FROM events
WHERE env = $env
