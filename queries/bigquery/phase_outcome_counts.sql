-- phase_outcome_counts: how the phase attempts of one env ended, per phase, operation and
-- VPC connector state.
-- Reads: phase_attempts. Parameters: @env.
-- Counts are COUNT(IF(c, 1, NULL)) rather than COUNTIF(c): the same numbers, in a form the
-- emulator the tests use also runs.
-- Returns: phase, operation, vpc_state, attempts, completed, timed_out, errors, incomplete.
SELECT
    phase,
    operation,
    vpc_state,
    COUNT(*) AS attempts,
    COUNT(IF(outcome = 'completed', 1, NULL)) AS completed,
    COUNT(IF(outcome = 'timeout', 1, NULL)) AS timed_out,
    COUNT(IF(outcome = 'error', 1, NULL)) AS errors,
    COUNT(IF(outcome = 'incomplete', 1, NULL)) AS incomplete
FROM phase_attempts
WHERE env = @env
GROUP BY phase, operation, vpc_state
ORDER BY phase, operation, vpc_state
