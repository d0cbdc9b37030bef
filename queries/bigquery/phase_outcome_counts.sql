-- phase_outcome_counts: how the phase attempts of one env ended, per service, phase, operation
-- and VPC connector state.
-- Reads: phase_attempts. Parameters: @env, @services (ARRAY<STRING>: only these services;
--   empty: every one).
-- Counts are COUNT(IF(c, 1, NULL)) rather than COUNTIF(c): the same numbers, in a form the
-- emulator the tests use also runs.
-- Returns: service ('unknown' where none was logged), phase, operation, vpc_state, attempts,
--   completed, timed_out, errors, incomplete.
SELECT
    COALESCE(service, 'unknown') AS service,
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
  AND (ARRAY_LENGTH(@services) = 0 OR COALESCE(service, 'unknown') IN UNNEST(@services))
GROUP BY COALESCE(service, 'unknown'), phase, operation, vpc_state
ORDER BY service, phase, operation, vpc_state
