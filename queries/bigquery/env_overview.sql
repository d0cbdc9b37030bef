-- env_overview: the size and time window of one env's telemetry (how its startups ended is
--   service_startups.sql, per service).
-- Reads: events. Parameters: @env.
-- Returns one row: window_start, window_end (first and last event), events.
SELECT
    MIN(ts) AS window_start,
    MAX(ts) AS window_end,
    COUNT(*) AS events
FROM events
WHERE env = @env
