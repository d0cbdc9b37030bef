-- env_overview: the size and time window of one env's telemetry, and how its startups ended.
-- Reads: events, startups. Parameters: @env.
-- Counts are COUNT(IF(c, 1, NULL)) rather than COUNTIF(c): the same numbers, in a form the
-- emulator the tests use also runs.
-- Returns one row: window_start, window_end (first and last event), events, startups,
--   startups_completed, startups_failed, startups_incomplete (no end seen).
SELECT
    (SELECT MIN(ts) FROM events WHERE env = @env) AS window_start,
    (SELECT MAX(ts) FROM events WHERE env = @env) AS window_end,
    (SELECT COUNT(*) FROM events WHERE env = @env) AS events,
    COUNT(*) AS startups,
    COUNT(IF(outcome = 'completed', 1, NULL)) AS startups_completed,
    COUNT(IF(outcome = 'failed', 1, NULL)) AS startups_failed,
    COUNT(IF(outcome = 'incomplete', 1, NULL)) AS startups_incomplete
FROM startups
WHERE env = @env
