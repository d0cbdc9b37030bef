-- attempt_numbers: the window's attempts, each with its group (attempt_groups.sql), unordered.
-- One query answers both the groups and the numbers (the local engine runs two over a temporary
-- table; here a second query would scan the source again): each row carries its group's number
-- and key, and the engine cuts the groups out of them.
-- Reads: attempts_in_window, attempt_groups. Parameters: none.
-- Returns: gid, service, phase, operation, vpc_state, attempts (of the group), started_s, ended_s,
--   duration_s, observed, timeout_s.
SELECT
    g.gid, g.service, g.phase, g.operation, g.vpc_state, g.attempts,
    a.started_s, a.ended_s, a.duration_s, a.observed, a.timeout_s
FROM attempts_in_window AS a
JOIN attempt_groups AS g
    ON a.service = g.service AND a.phase = g.phase AND a.operation = g.operation
    AND a.vpc_state = g.vpc_state
