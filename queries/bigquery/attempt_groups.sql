-- attempt_groups: the (service, phase, operation, vpc_state) groups of the window's attempts,
-- numbered 0, 1, ... in key order, with their sizes.
-- Reads: attempts_in_window (phase_attempt_durations.sql of one window). Parameters: none.
-- Returns: gid, service, phase, operation, vpc_state, attempts.
SELECT
    ROW_NUMBER() OVER (ORDER BY service, phase, operation, vpc_state) - 1 AS gid,
    service,
    phase,
    operation,
    vpc_state,
    COUNT(*) AS attempts
FROM attempts_in_window
GROUP BY service, phase, operation, vpc_state
