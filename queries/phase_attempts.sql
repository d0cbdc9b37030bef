-- phase_attempts: one row per startup × phase × operation, with its duration read as
-- TELEMETRY.md §5 says: observed when it completed, right-censored when it timed out or failed.
-- VPC state: the attempt's own events, else the text form's "VPC connector state" line that
-- follows it in the same startup, else the env's timeline at the attempt's start (as-of join),
-- else 'unknown'.
-- Returns: env, service, startup_id, phase, phase_name, operation, started_at, ended_at,
--   outcome ('completed' | 'timeout' | 'error' | 'incomplete'), duration_s, censored,
--   timeout_s (in force), vpc_state, vpc_state_source ('event' | 'context' | 'timeline' | 'none'),
--   vpc_utilization (with the state it came with), error_type, error.
-- Parameters: none.
WITH attempt_events AS (
    SELECT
        env, startup_id, phase, coalesce(operation, 'initialization') AS operation,
        service, phase_name, event, ts, outcome, duration_s, timeout_s, vpc_state,
        vpc_utilization, error_type, error
    FROM events
    WHERE phase IS NOT NULL
      AND startup_id IS NOT NULL
      AND event IN ('phase_started', 'timeout_calculated', 'phase_completed', 'phase_failed', 'phase_context')
),
grouped AS (
    SELECT
        env, startup_id, phase, operation,
        any_value(service) AS service,
        any_value(phase_name) AS phase_name,
        min(ts) AS first_ts,
        min(ts) FILTER (WHERE event = 'phase_started') AS start_ts,
        max(ts) FILTER (WHERE event IN ('phase_completed', 'phase_failed')) AS end_ts,
        arg_max(CASE WHEN event = 'phase_completed' THEN 'completed' ELSE outcome END, ts)
            FILTER (WHERE event IN ('phase_completed', 'phase_failed')) AS end_outcome,
        arg_max(duration_s, ts)
            FILTER (WHERE event IN ('phase_completed', 'phase_failed') AND duration_s IS NOT NULL) AS end_duration_s,
        arg_max(timeout_s, ts) FILTER (WHERE timeout_s IS NOT NULL) AS timeout_s,
        arg_min(vpc_state, ts) FILTER (WHERE vpc_state IS NOT NULL) AS own_vpc_state,
        arg_min(vpc_utilization, ts) FILTER (WHERE vpc_utilization IS NOT NULL) AS vpc_utilization,
        arg_max(error_type, ts) FILTER (WHERE event = 'phase_failed') AS error_type,
        arg_max(error, ts) FILTER (WHERE event = 'phase_failed') AS error
    FROM attempt_events
    GROUP BY env, startup_id, phase, operation
),
attempts AS (
    SELECT
        *,
        coalesce(
            start_ts,
            end_ts - to_microseconds(CAST(end_duration_s * 1e6 AS BIGINT)),
            first_ts
        ) AS started_at
    FROM grouped
),
context_lines AS (
    SELECT env, startup_id, ts, vpc_state
    FROM events
    WHERE event = 'phase_context' AND phase IS NULL AND startup_id IS NOT NULL AND vpc_state IS NOT NULL
),
context_by_attempt AS (
    SELECT a.env, a.startup_id, a.phase, a.operation, arg_min(c.vpc_state, c.ts) AS context_vpc_state
    FROM context_lines AS c
    ASOF JOIN attempts AS a
        ON c.env = a.env AND c.startup_id = a.startup_id AND c.ts >= a.started_at
    GROUP BY ALL
)
SELECT
    a.env,
    a.service,
    a.startup_id,
    a.phase,
    a.phase_name,
    a.operation,
    a.started_at,
    a.end_ts AS ended_at,
    coalesce(a.end_outcome, 'incomplete') AS outcome,
    coalesce(a.end_duration_s, epoch(a.end_ts) - epoch(a.start_ts)) AS duration_s,
    coalesce(a.end_outcome, 'incomplete') <> 'completed' AS censored,
    a.timeout_s,
    coalesce(a.own_vpc_state, c.context_vpc_state, v.vpc_state, 'unknown') AS vpc_state,
    CASE
        WHEN a.own_vpc_state IS NOT NULL THEN 'event'
        WHEN c.context_vpc_state IS NOT NULL THEN 'context'
        WHEN v.vpc_state IS NOT NULL THEN 'timeline'
        ELSE 'none'
    END AS vpc_state_source,
    coalesce(
        a.vpc_utilization,
        CASE WHEN a.own_vpc_state IS NULL AND c.context_vpc_state IS NULL THEN v.vpc_utilization END
    ) AS vpc_utilization,
    a.error_type,
    a.error
FROM attempts AS a
LEFT JOIN context_by_attempt AS c
    ON a.env = c.env AND a.startup_id = c.startup_id AND a.phase = c.phase AND a.operation = c.operation
ASOF LEFT JOIN vpc_states AS v
    ON a.env = v.env AND a.started_at >= v.ts
