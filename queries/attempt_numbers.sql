-- attempt_numbers: the numeric columns of a table of phase_attempt_durations rows, each with its
-- group's number (attempt_groups.sql), unordered: a row of numbers and a small integer cross
-- into numpy without strings, and the caller groups them by that integer (sorting 3.7 million
-- rows on the three string keys in SQL took longer than all the estimation after it).
-- Reads: attempts_in_window, attempt_groups (a table of attempt_groups.sql). Parameters: none.
-- Returns: gid, started_s, ended_s, duration_s, observed, timeout_s.
SELECT g.gid, a.started_s, a.ended_s, a.duration_s, a.observed, a.timeout_s
FROM attempts_in_window AS a
JOIN attempt_groups AS g
    ON a.service = g.service AND a.phase = g.phase AND a.operation = g.operation
    AND a.vpc_state = g.vpc_state
