-- report_timeline: what the report's timeline shows for one env and window: each VPC state
-- change, each failed startup and each breaker opening, in time order.
-- Reads: vpc_states, startups, events. Parameters: @env, @start, @end (TIMESTAMP).
-- Returns: ts, kind ('vpc_state' | 'startup_failed' | 'breaker_open'), vpc_state (for the
--   state changes).
SELECT ts, 'vpc_state' AS kind, vpc_state
FROM vpc_states
WHERE env = @env AND ts < @end AND COALESCE(until, @end) >= @start
UNION ALL
SELECT ended_at AS ts, 'startup_failed' AS kind, CAST(NULL AS STRING) AS vpc_state
FROM startups
WHERE env = @env AND outcome = 'failed' AND ended_at >= @start AND ended_at < @end
UNION ALL
SELECT ts, 'breaker_open' AS kind, CAST(NULL AS STRING) AS vpc_state
FROM events
WHERE env = @env AND event = 'breaker_transition' AND to_state = 'OPEN'
  AND ts >= @start AND ts < @end
ORDER BY ts
