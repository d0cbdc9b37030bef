-- revision_attempts: the phase attempts of one env in a window with the service and revision
-- whose startup ran them, and when each revision was first seen (its first startup in what the
-- engine scans: from a day before the window, where the lake looks at all it holds).
-- Attempts with no end seen carry no duration and are left out.
-- Reads: startups, phase_attempts. Parameters: @env, @start, @end (TIMESTAMP: attempts that
--   started in [start, end)).
-- Returns: service, revision ('unknown' where none was logged), first_seen (TIMESTAMP),
--   phase, operation, vpc_state, duration_s, observed (true when it completed: the duration
--   is exact; false: right-censored at a timeout or an error). Unordered.
SELECT
    r.service,
    r.revision,
    r.first_seen,
    a.phase,
    a.operation,
    a.vpc_state,
    a.duration_s,
    a.outcome = 'completed' AS observed
FROM phase_attempts AS a
-- (a subquery, not a WITH: the engine puts the views this reads in the statement's one WITH)
JOIN (
    SELECT
        startup_id, service, revision,
        MIN(started_at) OVER (PARTITION BY service, revision) AS first_seen
    FROM (
        SELECT
            startup_id,
            COALESCE(service, 'unknown') AS service,
            COALESCE(revision, 'unknown') AS revision,
            started_at
        FROM startups
        WHERE env = @env
    )
) AS r ON a.startup_id = r.startup_id
WHERE a.env = @env
  AND a.started_at >= @start
  AND a.started_at < @end
  AND a.duration_s IS NOT NULL
