-- phase_attempt_durations: the phase attempts of one env in a time window, as survival data.
-- Attempts with no end seen (incomplete) carry no duration and are left out.
-- Parameters: $env, $start, $end (TIMESTAMPTZ: attempts that started in [start, end)).
-- Returns: phase, operation, vpc_state, started_at, ended_at, duration_s,
--   observed (true when it completed: the duration is exact; false: right-censored),
--   outcome, timeout_s (in force), in start order within each phase and operation.
SELECT
    phase,
    operation,
    vpc_state,
    started_at,
    ended_at,
    duration_s,
    outcome = 'completed' AS observed,
    outcome,
    timeout_s
FROM phase_attempts
WHERE env = $env
  AND started_at >= $start
  AND started_at < $end
  AND duration_s IS NOT NULL
ORDER BY phase, operation, started_at, vpc_state
