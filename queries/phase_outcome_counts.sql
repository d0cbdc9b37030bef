-- phase_outcome_counts: how the phase attempts of one env ended, per service, phase, operation
-- and VPC connector state.
-- Parameters: $env, $services (VARCHAR[]: only these services; empty: every one).
-- Returns: service ('unknown' where none was logged), phase, operation, vpc_state, attempts,
--   completed, timed_out, errors, incomplete.
SELECT
    coalesce(service, 'unknown') AS service,
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
  AND (len(CAST($services AS VARCHAR[])) = 0
       OR list_contains(CAST($services AS VARCHAR[]), coalesce(service, 'unknown')))
GROUP BY ALL
ORDER BY service, phase, operation, vpc_state
