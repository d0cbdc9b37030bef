-- phase_attempt_durations: the phase attempts of one env in a time window, as survival data.
-- Attempts with no end seen (incomplete) carry no duration and are left out. Times are epoch
-- seconds, so the result crosses into numpy without a per-row conversion.
-- Parameters: $env, $start, $end (TIMESTAMPTZ: attempts that started in [start, end)).
-- Returns: service ('unknown' where none was logged), phase, operation, vpc_state, started_s,
--   ended_s, duration_s,
--   observed (true when it completed: the duration is exact; false: right-censored),
--   timeout_s (in force). Unordered.
SELECT
    coalesce(service, 'unknown') AS service,
    phase,
    operation,
    vpc_state,
    epoch(started_at) AS started_s,
    epoch(ended_at) AS ended_s,
    duration_s,
    outcome = 'completed' AS observed,
    timeout_s
FROM phase_attempts
WHERE env = $env
  AND started_at >= $start
  AND started_at < $end
  AND duration_s IS NOT NULL
