-- backtest_attempts: the phase attempts of one env in a window, with what a replay needs:
-- the startup they belong to, how they ended and the timeout they ran under.
-- Parameters: $env, $start, $end (TIMESTAMPTZ: attempts that started in [start, end)),
--   $services (VARCHAR[]: only these services; empty: every one).
-- Returns: service ('unknown' where none was logged), startup_id, phase, operation, vpc_state,
--   started_s (epoch seconds), duration_s, outcome ('completed' | 'timeout' | 'error'),
--   timeout_s; in start order.
SELECT
    coalesce(service, 'unknown') AS service,
    startup_id,
    phase,
    operation,
    vpc_state,
    epoch(started_at) AS started_s,
    duration_s,
    outcome,
    timeout_s
FROM phase_attempts
WHERE env = $env
  AND started_at >= $start
  AND started_at < $end
  AND duration_s IS NOT NULL
  AND (len(CAST($services AS VARCHAR[])) = 0
       OR list_contains(CAST($services AS VARCHAR[]), coalesce(service, 'unknown')))
ORDER BY started_at, startup_id, phase
