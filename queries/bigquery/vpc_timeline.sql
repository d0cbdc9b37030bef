-- vpc_timeline: the VPC connector states of one env in force during a window (the one in force
-- at its start included), oldest first: the episodes the breaker's wait in OPEN is read from.
-- Reads: vpc_states. Parameters: @env, @start, @end (TIMESTAMP).
-- Returns: ts (when the state began), vpc_state, until (when the next began; NULL while in
--   force).
SELECT ts, vpc_state, until
FROM vpc_states
WHERE env = @env AND ts < @end AND COALESCE(until, @end) >= @start
ORDER BY ts, vpc_state
