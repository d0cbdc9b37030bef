-- revision_attempts: the phase attempts of one env in a window with the service and revision
-- whose startup ran them, and when each revision was first seen (the first startup of it in
-- the whole lake, so a revision deployed before the window still sorts before later ones).
-- Attempts with no end seen carry no duration and are left out.
-- Parameters: $env, $start, $end (TIMESTAMPTZ: attempts that started in [start, end)).
-- Returns: service, revision ('unknown' where none was logged), first_seen (TIMESTAMPTZ),
--   phase, operation, vpc_state, duration_s, observed (true when it completed: the duration
--   is exact; false: right-censored at a timeout or an error). Unordered.
WITH revisions AS (
    SELECT
        startup_id,
        coalesce(service, 'unknown') AS service,
        coalesce(revision, 'unknown') AS revision,
        started_at
    FROM startups
    WHERE env = $env
),
first_seen AS (
    SELECT
        startup_id, service, revision,
        min(started_at) OVER (PARTITION BY service, revision) AS first_seen
    FROM revisions
)
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
JOIN first_seen AS r USING (startup_id)
WHERE a.env = $env
  AND a.started_at >= $start
  AND a.started_at < $end
  AND a.duration_s IS NOT NULL
