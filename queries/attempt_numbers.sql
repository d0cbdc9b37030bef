-- attempt_numbers: the numeric columns of a table of phase_attempt_durations rows, in group
-- order (see attempt_groups.sql).
-- Reads: attempts_in_window. Parameters: none.
-- Returns: started_s, ended_s, duration_s, observed, timeout_s.
SELECT started_s, ended_s, duration_s, observed, timeout_s
FROM attempts_in_window
ORDER BY phase, operation, vpc_state, started_s
