-- phase_attempts: one row per startup × phase × operation, with its duration read as
-- docs/telemetry.md §5 says: observed when it completed, right-censored when it timed out or failed.
-- VPC state: the attempt's own events, else the text form's "VPC connector state" line that
-- follows it in the same startup, else the env's timeline at the attempt's start (the change
-- in force then), else 'unknown'.
-- Returns: env, service, startup_id, phase, phase_name, operation, started_at, ended_at,
--   outcome ('completed' | 'timeout' | 'error' | 'incomplete'), duration_s, censored,
--   timeout_s (in force), vpc_state, vpc_state_source ('event' | 'context' | 'timeline' | 'none'),
--   vpc_utilization (with the state it came with), error_type, error.
-- Parameters: none.
WITH relevant AS NOT MATERIALIZED (
    -- the attempts' own events, context lines and the VPC timeline: each use reads the
    -- segments with its own filter, cheaper than holding 8 million rows in between. (Where
    -- `events` must deduplicate, analyzer.lake.connect makes this MATERIALIZED: one read.)
    SELECT
        env, startup_id, phase, coalesce(operation, 'initialization') AS operation,
        service, phase_name, event, ts, outcome, duration_s, timeout_s, vpc_state,
        vpc_utilization, error_type, error
    FROM events
    WHERE event IN ('phase_started', 'timeout_calculated', 'phase_completed', 'phase_failed',
                    'phase_context', 'vpc_state_changed')
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
    FROM relevant
    WHERE phase IS NOT NULL AND startup_id IS NOT NULL AND event <> 'vpc_state_changed'
    GROUP BY env, startup_id, phase, operation
),
attempts AS MATERIALIZED (
    SELECT
        *,
        coalesce(
            start_ts,
            end_ts - to_microseconds(CAST(end_duration_s * 1e6 AS BIGINT)),
            first_ts
        ) AS started_at
    FROM grouped
),
context_lines AS MATERIALIZED (
    SELECT env, startup_id, ts, vpc_state
    FROM relevant
    WHERE event = 'phase_context' AND phase IS NULL AND vpc_state IS NOT NULL
),
context_by_line AS (
    -- a context line (no phase of its own) belongs to the latest attempt of its startup that
    -- had started by then
    SELECT
        c.env, c.startup_id, c.ts, any_value(c.vpc_state) AS vpc_state,
        arg_max({'phase': a.phase, 'operation': a.operation}, a.started_at) AS target
    FROM context_lines AS c
    JOIN (SELECT * FROM attempts SEMI JOIN context_lines USING (env, startup_id)) AS a
        ON c.env = a.env AND c.startup_id = a.startup_id AND a.started_at <= c.ts
    GROUP BY c.env, c.startup_id, c.ts
),
context AS (
    SELECT
        env, startup_id, target.phase AS phase, target.operation AS operation,
        arg_min(vpc_state, ts) AS context_vpc_state
    FROM context_by_line
    GROUP BY ALL
),
timeline AS (
    SELECT env, ts, vpc_state, vpc_utilization
    FROM relevant
    WHERE event = 'vpc_state_changed' AND vpc_state IS NOT NULL
),
-- The timeline's state in force at each attempt's start: each change holds from its time until
-- the env's next one (of changes at one instant, the last in state order). An equality join
-- on the hour (each change listed under every hour it holds in), then the interval's check,
-- finds it: an as-of join sorted every attempt for a few hundred changes (0.2 to 0.7 s of
-- CPU over 380,000 attempts, against 0.1 s).
intervals AS (
    SELECT
        env, vpc_state, vpc_utilization, epoch_us(ts) AS from_us,
        epoch_us(lead(ts) OVER (PARTITION BY env ORDER BY ts, vpc_state, vpc_utilization))
            AS until_us
    FROM timeline
),
last_start AS (
    SELECT env, epoch_us(max(started_at)) AS us FROM attempts GROUP BY env
),
hourly AS (
    SELECT i.*, unnest(range(i.from_us // 3600000000,
                             coalesce(i.until_us - 1, l.us, i.from_us) // 3600000000 + 1)) AS hour
    FROM intervals AS i LEFT JOIN last_start AS l USING (env)
),
joined AS (
    SELECT
        a.*,
        c.context_vpc_state,
        t.vpc_state AS timeline_vpc_state,
        t.vpc_utilization AS timeline_vpc_utilization
    FROM attempts AS a
    LEFT JOIN context AS c
        ON a.env = c.env AND a.startup_id = c.startup_id AND a.phase = c.phase
       AND a.operation = c.operation
    LEFT JOIN hourly AS t
        ON a.env = t.env AND epoch_us(a.started_at) // 3600000000 = t.hour
       AND epoch_us(a.started_at) >= t.from_us
       AND epoch_us(a.started_at) < coalesce(t.until_us, 9223372036854775807)
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
    coalesce(end_outcome, 'incomplete') AS outcome,
    coalesce(end_duration_s, epoch(end_ts) - epoch(start_ts)) AS duration_s,
    coalesce(end_outcome, 'incomplete') <> 'completed' AS censored,
    timeout_s,
    coalesce(own_vpc_state, context_vpc_state, timeline_vpc_state, 'unknown') AS vpc_state,
    CASE
        WHEN own_vpc_state IS NOT NULL THEN 'event'
        WHEN context_vpc_state IS NOT NULL THEN 'context'
        WHEN timeline_vpc_state IS NOT NULL THEN 'timeline'
        ELSE 'none'
    END AS vpc_state_source,
    coalesce(
        vpc_utilization,
        CASE WHEN own_vpc_state IS NULL AND context_vpc_state IS NULL THEN timeline_vpc_utilization END
    ) AS vpc_utilization,
    error_type,
    error
FROM joined
