-- attempt_groups: the (phase, operation, vpc_state) groups of a table of phase_attempt_durations
-- rows, in the same order, with their sizes, so numeric columns fetched in that order can be
-- cut into groups without moving strings row by row.
-- Reads: attempts_in_window (phase_attempt_durations.sql of one window). Parameters: none.
-- Returns: phase, operation, vpc_state, attempts.
SELECT phase, operation, vpc_state, count(*) AS attempts
FROM attempts_in_window
GROUP BY phase, operation, vpc_state
ORDER BY phase, operation, vpc_state
