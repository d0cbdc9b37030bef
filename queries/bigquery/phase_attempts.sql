-- phase_attempts: one row per startup × phase × operation, with its duration read as
-- docs/telemetry.md §5 says: observed when it completed, right-censored when it timed out or failed.
-- VPC state: the attempt's own events, else the text form's "VPC connector state" line that
-- follows it in the same startup, else the env's timeline at the attempt's start, else 'unknown'.
-- "The value at the last row where c holds" is ANY_VALUE(x HAVING MAX IF(c AND x IS NOT NULL,
-- ts, NULL)): the rows where x is NULL must not win (MAX_BY(IF(c, x, NULL), ts) would return
-- their NULL, as BigQuery's MAX_BY respects NULLs). The as-of join on the timeline is
-- LAST_VALUE(... IGNORE NULLS) over one stream of state changes and attempts in time order.
-- Reads: events. Parameters: none.
-- Returns: env, service, startup_id, phase, phase_name, operation, started_at, ended_at,
--   outcome ('completed' | 'timeout' | 'error' | 'incomplete'), duration_s, censored,
--   timeout_s (in force), vpc_state, vpc_state_source ('event' | 'context' | 'timeline' | 'none'),
--   vpc_utilization (with the state it came with), error_type, error.
WITH relevant AS (
    SELECT
        env, startup_id, phase, COALESCE(operation, 'initialization') AS operation,
        service, phase_name, event, ts, outcome, duration_s, timeout_s, vpc_state,
        vpc_utilization, error_type, error
    FROM events
    WHERE event IN ('phase_started', 'timeout_calculated', 'phase_completed', 'phase_failed',
                    'phase_context', 'vpc_state_changed')
),
grouped AS (
    SELECT
        env, startup_id, phase, operation,
        ANY_VALUE(service) AS service,
        ANY_VALUE(phase_name) AS phase_name,
        MIN(ts) AS first_ts,
        MIN(IF(event = 'phase_started', ts, NULL)) AS start_ts,
        MAX(IF(event IN ('phase_completed', 'phase_failed'), ts, NULL)) AS end_ts,
        ANY_VALUE(IF(event = 'phase_completed', 'completed', outcome)
            HAVING MAX IF(event IN ('phase_completed', 'phase_failed')
                          AND IF(event = 'phase_completed', 'completed', outcome) IS NOT NULL,
                          ts, NULL)) AS end_outcome,
        ANY_VALUE(duration_s
            HAVING MAX IF(event IN ('phase_completed', 'phase_failed') AND duration_s IS NOT NULL,
                          ts, NULL)) AS end_duration_s,
        ANY_VALUE(timeout_s HAVING MAX IF(timeout_s IS NOT NULL, ts, NULL)) AS timeout_s,
        ANY_VALUE(vpc_state HAVING MIN IF(vpc_state IS NOT NULL, ts, NULL)) AS own_vpc_state,
        ANY_VALUE(vpc_utilization
            HAVING MIN IF(vpc_utilization IS NOT NULL, ts, NULL)) AS vpc_utilization,
        ANY_VALUE(error_type
            HAVING MAX IF(event = 'phase_failed' AND error_type IS NOT NULL, ts, NULL)) AS error_type,
        ANY_VALUE(error HAVING MAX IF(event = 'phase_failed' AND error IS NOT NULL, ts, NULL)) AS error
    FROM relevant
    WHERE phase IS NOT NULL AND startup_id IS NOT NULL AND event <> 'vpc_state_changed'
    GROUP BY env, startup_id, phase, operation
),
attempts AS (
    SELECT
        *,
        COALESCE(
            start_ts,
            TIMESTAMP_SUB(end_ts, INTERVAL CAST(end_duration_s * 1e6 AS INT64) MICROSECOND),
            first_ts
        ) AS started_at
    FROM grouped
),
context_by_line AS (
    -- a context line (no phase of its own) belongs to the latest attempt of its startup that
    -- had started by then
    SELECT c.env, c.startup_id, c.ts, c.vpc_state, a.phase, a.operation
    FROM relevant AS c
    JOIN attempts AS a
        ON c.env = a.env AND c.startup_id = a.startup_id AND a.started_at <= c.ts
    WHERE c.event = 'phase_context' AND c.phase IS NULL AND c.vpc_state IS NOT NULL
    QUALIFY ROW_NUMBER() OVER (
        PARTITION BY c.env, c.startup_id, c.ts ORDER BY a.started_at DESC, a.phase DESC) = 1
),
context AS (
    SELECT
        env, startup_id, phase, operation,
        ANY_VALUE(vpc_state HAVING MIN ts) AS context_vpc_state
    FROM context_by_line
    GROUP BY env, startup_id, phase, operation
),
stream AS (
    -- the timeline's state changes and the attempts' starts, one stream per env in time order
    -- (a change at the very instant an attempt starts is in force for it)
    SELECT env, ts, 0 AS kind, vpc_state, COALESCE(vpc_utilization, -1) AS utilization,
           CAST(NULL AS STRING) AS startup_id, CAST(NULL AS INT64) AS phase,
           CAST(NULL AS STRING) AS operation
    FROM relevant
    WHERE event = 'vpc_state_changed' AND vpc_state IS NOT NULL
    UNION ALL
    SELECT env, started_at AS ts, 1 AS kind, NULL, NULL, startup_id, phase, operation
    FROM attempts
),
as_of AS (
    SELECT
        env, startup_id, phase, operation,
        LAST_VALUE(vpc_state IGNORE NULLS) OVER (
            PARTITION BY env ORDER BY ts, kind ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS timeline_vpc_state,
        NULLIF(LAST_VALUE(utilization IGNORE NULLS) OVER (
            PARTITION BY env ORDER BY ts, kind ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ), -1) AS timeline_vpc_utilization
    FROM stream
    WHERE TRUE
    QUALIFY kind = 1
),
joined AS (
    SELECT a.*, c.context_vpc_state, t.timeline_vpc_state, t.timeline_vpc_utilization
    FROM attempts AS a
    LEFT JOIN context AS c
        ON a.env = c.env AND a.startup_id = c.startup_id AND a.phase = c.phase
       AND a.operation = c.operation
    LEFT JOIN as_of AS t
        ON a.env = t.env AND a.startup_id = t.startup_id AND a.phase = t.phase
       AND a.operation = t.operation
)
SELECT
    env,
    service,
    startup_id,
    phase,
    phase_name,
    operation,
    started_at,
    end_ts AS ended_at,
    COALESCE(end_outcome, 'incomplete') AS outcome,
    -- epoch seconds as DuckDB's epoch() computes them (see phase_attempt_durations.sql)
    COALESCE(
        end_duration_s,
        (DIV(UNIX_MICROS(end_ts), 1000) / 1000 + MOD(UNIX_MICROS(end_ts), 1000) / 1e6)
            - (DIV(UNIX_MICROS(start_ts), 1000) / 1000 + MOD(UNIX_MICROS(start_ts), 1000) / 1e6)
    ) AS duration_s,
    COALESCE(end_outcome, 'incomplete') <> 'completed' AS censored,
    timeout_s,
    COALESCE(own_vpc_state, context_vpc_state, timeline_vpc_state, 'unknown') AS vpc_state,
    CASE
        WHEN own_vpc_state IS NOT NULL THEN 'event'
        WHEN context_vpc_state IS NOT NULL THEN 'context'
        WHEN timeline_vpc_state IS NOT NULL THEN 'timeline'
        ELSE 'none'
    END AS vpc_state_source,
    COALESCE(
        vpc_utilization,
        IF(own_vpc_state IS NULL AND context_vpc_state IS NULL, timeline_vpc_utilization, NULL)
    ) AS vpc_utilization,
    error_type,
    error
FROM joined
