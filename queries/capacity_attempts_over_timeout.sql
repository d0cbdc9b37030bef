-- capacity_attempts_over_timeout: the phase attempts of one env begun in a window that
-- completed, but only after longer than the timeout deployed now (the latest timeout_s seen
-- for their service, phase and operation): startups that would fail under today's timeouts.
-- Parameters: $env, $start, $end (TIMESTAMPTZ).
-- Returns: service, startup_id, phase, operation, duration_s, deployed_timeout_s.
WITH window_attempts AS (
    SELECT
        service, startup_id, phase, operation, started_at, outcome, duration_s,
        last_value(timeout_s IGNORE NULLS) OVER (
            PARTITION BY service, phase, operation ORDER BY started_at, startup_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
        ) AS deployed_timeout_s
    FROM phase_attempts
    WHERE env = $env AND started_at >= $start AND started_at < $end
)
SELECT service, startup_id, phase, operation, duration_s, deployed_timeout_s
FROM window_attempts
WHERE outcome = 'completed' AND duration_s > deployed_timeout_s
ORDER BY service, startup_id, phase, operation
