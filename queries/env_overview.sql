-- env_overview: the size and time window of one env's telemetry, and how its startups ended.
-- Parameters: $env, $earliest_ts, $future_slack (the window's ends are the first and last
--   plausible event, as env_time_range.sql takes them).
-- Returns one row: window_start, window_end (first and last plausible event), events, startups,
--   startups_completed, startups_failed, startups_incomplete (no end seen).
WITH plausible AS (
    SELECT ts FROM events
    WHERE env = $env
      AND ts >= $earliest_ts
      AND ts <= least(coalesce(receive_ts, ingested_at), ingested_at) + $future_slack
)
SELECT
    (SELECT min(ts) FROM plausible) AS window_start,
    (SELECT max(ts) FROM plausible) AS window_end,
    (SELECT count(*) FROM events WHERE env = $env) AS events,
    count(*) AS startups,
    count(*) FILTER (WHERE outcome = 'completed') AS startups_completed,
    count(*) FILTER (WHERE outcome = 'failed') AS startups_failed,
    count(*) FILTER (WHERE outcome = 'incomplete') AS startups_incomplete
FROM startups
WHERE env = $env
