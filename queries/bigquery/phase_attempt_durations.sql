-- phase_attempt_durations: the phase attempts of one env in a time window, as survival data.
-- Attempts with no end seen (incomplete) carry no duration and are left out. Times are epoch
-- seconds, so the result crosses into numpy without a per-row conversion.
-- Reads: phase_attempts. Parameters: @env, @start, @end (TIMESTAMP: attempts that started in
--   [start, end)).
-- Returns: phase, operation, vpc_state, started_s, ended_s, duration_s,
--   observed (true when it completed: the duration is exact; false: right-censored),
--   timeout_s (in force). Unordered.
SELECT
    phase,
    operation,
    vpc_state,
    UNIX_MICROS(started_at) / 1e6 AS started_s,
    UNIX_MICROS(ended_at) / 1e6 AS ended_s,
    duration_s,
    outcome = 'completed' AS observed,
    timeout_s
FROM phase_attempts
WHERE env = @env
  AND started_at >= @start
  AND started_at < @end
  AND duration_s IS NOT NULL
