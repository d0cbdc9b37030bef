-- env_overview: the size and time window of one env's telemetry, and how its startups ended.
-- Parameters: $env.
-- Returns one row: window_start, window_end (first and last event), events, startups,
--   startups_completed, startups_failed, startups_incomplete (no end seen).
SELECT
    (SELECT min(ts) FROM events WHERE env = $env) AS window_start,
    (SELECT max(ts) FROM events WHERE env = $env) AS window_end,
    (SELECT count(*) FROM events WHERE env = $env) AS events,
    count(*) AS startups,
    count(*) FILTER (WHERE outcome = 'completed') AS startups_completed,
    count(*) FILTER (WHERE outcome = 'failed') AS startups_failed,
    count(*) FILTER (WHERE outcome = 'incomplete') AS startups_incomplete
FROM startups
WHERE env = $env
