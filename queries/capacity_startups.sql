-- capacity_startups: each startup of one env begun in a window, with the VPC connector state in
-- force when it began (the env's timeline, as of its start; 'unknown' before the first state):
-- what strain costs is read from these.
-- Parameters: $env, $start, $end (TIMESTAMPTZ).
-- Returns: service, revision, startup_id, started_at, duration_s (NULL with no end seen),
--   outcome ('completed' | 'failed' | 'incomplete'), vpc_state.
SELECT
    s.service,
    s.revision,
    s.startup_id,
    s.started_at,
    s.duration_s,
    s.outcome,
    coalesce(v.vpc_state, 'unknown') AS vpc_state
FROM startups AS s
ASOF LEFT JOIN vpc_states AS v ON v.env = s.env AND s.started_at >= v.ts
WHERE s.env = $env AND s.started_at >= $start AND s.started_at < $end
ORDER BY s.started_at, s.startup_id
