-- startups: one row per startup (one container start attempt: startup_id, by default the
-- Cloud Run instance id).
-- Returns: env, startup_id, service, revision, started_at, ended_at, duration_s,
--   outcome ('completed' | 'failed' | 'incomplete': no end seen), exit_code (of a failure),
--   last_phase (the highest phase the startup reached), degraded (a fallback was applied).
-- Parameters: none.
SELECT
    env,
    startup_id,
    any_value(service) AS service,
    any_value(revision) AS revision,
    coalesce(min(ts) FILTER (WHERE event = 'startup_started'), min(ts)) AS started_at,
    max(ts) FILTER (WHERE event IN ('startup_completed', 'startup_failed')) AS ended_at,
    epoch(max(ts) FILTER (WHERE event IN ('startup_completed', 'startup_failed')))
        - epoch(coalesce(min(ts) FILTER (WHERE event = 'startup_started'), min(ts))) AS duration_s,
    CASE
        WHEN bool_or(event = 'startup_failed') THEN 'failed'
        WHEN bool_or(event = 'startup_completed') THEN 'completed'
        ELSE 'incomplete'
    END AS outcome,
    max(exit_code) FILTER (WHERE event = 'startup_failed') AS exit_code,
    max(phase) AS last_phase,
    bool_or(event = 'degradation_applied') AS degraded
FROM events
WHERE startup_id IS NOT NULL AND event <> 'vpc_state_changed'
GROUP BY env, startup_id
