-- attempt_counts: the window's attempts counted per distinct duration, for tables too large to
-- fetch one row an attempt: one row per group (attempt_groups.sql: service, phase, operation
-- and VPC state), UTC day of the start,
-- duration, outcome and timeout in force, with how many attempts it stands for. Read over
-- attempt_numbers.sql's rows, so both paths group attempts alike.
-- Reads: attempt_rows (attempt_numbers.sql over attempts_in_window and attempt_groups).
-- Parameters: none.
-- Returns: gid, day_s (epoch seconds of the UTC day's start), duration_s, observed, timeout_s,
--   counted (how many attempts), last_started_s, last_ended_s (the latest of them). Unordered.
SELECT
    gid,
    floor(started_s / 86400) * 86400 AS day_s,
    duration_s,
    observed,
    timeout_s,
    count(*) AS counted,
    max(started_s) AS last_started_s,
    max(ended_s) AS last_ended_s
FROM attempt_rows
GROUP BY gid, day_s, duration_s, observed, timeout_s
