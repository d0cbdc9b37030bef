-- phase_outcome_counts: how the phase attempts of one env ended, per phase, operation and
-- VPC connector state.
-- Parameters: $env.
-- Returns: phase, operation, vpc_state, attempts, completed, timed_out, errors, incomplete.
SELECT
    phase,
    operation,
    vpc_state,
    count(*) AS attempts,
    count(*) FILTER (WHERE outcome = 'completed') AS completed,
    count(*) FILTER (WHERE outcome = 'timeout') AS timed_out,
    count(*) FILTER (WHERE outcome = 'error') AS errors,
    count(*) FILTER (WHERE outcome = 'incomplete') AS incomplete
FROM phase_attempts
WHERE env = $env
GROUP BY phase, operation, vpc_state
ORDER BY phase, operation, vpc_state
