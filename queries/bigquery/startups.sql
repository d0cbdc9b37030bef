-- startups: one row per startup (one container start attempt: startup_id, by default the
-- Cloud Run instance id).
-- Reads: events. Parameters: none.
-- Returns: env, startup_id, service, revision, started_at, ended_at, duration_s,
--   outcome ('completed' | 'failed' | 'incomplete': no end seen), exit_code (of a failure),
--   last_phase (the highest phase the startup reached), degraded (a fallback was applied).
SELECT
    env,
    startup_id,
    ANY_VALUE(service) AS service,
    ANY_VALUE(revision) AS revision,
    COALESCE(MIN(IF(event = 'startup_started', ts, NULL)), MIN(ts)) AS started_at,
    MAX(IF(event IN ('startup_completed', 'startup_failed'), ts, NULL)) AS ended_at,
    -- epoch seconds as DuckDB's epoch() computes them (see phase_attempt_durations.sql)
    (DIV(UNIX_MICROS(MAX(IF(event IN ('startup_completed', 'startup_failed'), ts, NULL))), 1000) / 1000
        + MOD(UNIX_MICROS(MAX(IF(event IN ('startup_completed', 'startup_failed'), ts, NULL))), 1000) / 1e6)
    - (DIV(UNIX_MICROS(COALESCE(MIN(IF(event = 'startup_started', ts, NULL)), MIN(ts))), 1000) / 1000
        + MOD(UNIX_MICROS(COALESCE(MIN(IF(event = 'startup_started', ts, NULL)), MIN(ts))), 1000) / 1e6)
        AS duration_s,
    CASE
        WHEN LOGICAL_OR(event = 'startup_failed') THEN 'failed'
        WHEN LOGICAL_OR(event = 'startup_completed') THEN 'completed'
        ELSE 'incomplete'
    END AS outcome,
    MAX(IF(event = 'startup_failed', exit_code, NULL)) AS exit_code,
    MAX(phase) AS last_phase,
    LOGICAL_OR(event = 'degradation_applied') AS degraded
FROM events
WHERE startup_id IS NOT NULL AND event <> 'vpc_state_changed'
GROUP BY env, startup_id
