-- env_overview: the size and time window of one env's telemetry (how its startups ended is
--   service_startups.sql, per service).
-- Parameters: $env, $earliest_ts, $future_slack (the window's ends are the first and last
--   plausible event, as env_time_range.sql takes them).
-- Returns one row: window_start, window_end (first and last plausible event), events.
WITH plausible AS (
    SELECT ts FROM events
    WHERE env = $env
      AND ts >= $earliest_ts
      AND ts <= least(coalesce(receive_ts, ingested_at), ingested_at) + $future_slack
)
SELECT
    min(ts) AS window_start,
    max(ts) AS window_end,
    (SELECT count(*) FROM events WHERE env = $env) AS events
FROM plausible
