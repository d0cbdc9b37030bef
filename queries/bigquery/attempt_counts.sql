-- attempt_counts: the window's attempts counted per distinct duration, for tables too large to
-- fetch one row an attempt (queries/attempt_counts.sql): one row per group, UTC day of the
-- start, duration, outcome and timeout in force, with how many attempts it stands for; each
-- row carries its group's key, as attempt_numbers.sql's rows do, and is read over them.
-- Reads: attempt_rows (attempt_numbers.sql). Parameters: none.
-- Returns: gid, service, phase, operation, vpc_state, attempts (of the group), day_s (epoch seconds of
--   the UTC day's start), duration_s, observed, timeout_s, counted (how many attempts),
--   last_started_s, last_ended_s (the latest of them).
SELECT
    gid, service, phase, operation, vpc_state, attempts,
    FLOOR(started_s / 86400) * 86400 AS day_s,
    duration_s,
    observed,
    timeout_s,
    COUNT(*) AS counted,
    MAX(started_s) AS last_started_s,
    MAX(ended_s) AS last_ended_s
FROM attempt_rows
GROUP BY gid, service, phase, operation, vpc_state, attempts, day_s, duration_s, observed,
    timeout_s
