-- backtest_attempts: the phase attempts of one env in a window, with what a replay needs:
-- the startup they belong to, how they ended and the timeout they ran under.
-- Reads: phase_attempts. Parameters: @env, @start, @end (TIMESTAMP: attempts that started in
--   [start, end)), @services (ARRAY<STRING>: only these services; empty: every one).
-- Returns: service ('unknown' where none was logged), startup_id, phase, operation, vpc_state,
--   started_s (epoch seconds), duration_s, outcome ('completed' | 'timeout' | 'error'),
--   timeout_s; in start order.
SELECT
    COALESCE(service, 'unknown') AS service,
    startup_id,
    phase,
    operation,
    vpc_state,
    (DIV(UNIX_MICROS(started_at), 1000) / 1000 + MOD(UNIX_MICROS(started_at), 1000) / 1e6) AS started_s,
    duration_s,
    outcome,
    timeout_s
FROM phase_attempts
WHERE env = @env
  AND started_at >= @start
  AND started_at < @end
  AND duration_s IS NOT NULL
  AND (ARRAY_LENGTH(@services) = 0 OR COALESCE(service, 'unknown') IN UNNEST(@services))
ORDER BY started_at, startup_id, phase
