-- breaker_summaries: what the services' in-process breakers saw over their lives, one row per
-- `breaker_summary` event of one env in a window (docs/telemetry.md §2 v1.1): structured events and
-- text lines alike, without those the lake would quarantine (lake_rows.sql reads and checks
-- their counts), deduplicated by insert id as the events view does.
-- Reads: events. Parameters: @env, @start, @end (TIMESTAMP), @default_env (STRING).
-- Returns: ts, service, revision, instance_id, vpc_state, operation, window_s, calls, failures,
--   slow_calls, slow_threshold_s, rejected, breaker_state, vpc_state_source (where the process's
--   VPC state came from: provider, monitor, none; NULL from runtimes before it); oldest first.
SELECT
    ts,
    service,
    revision,
    instance_id,
    vpc_state,
    operation,
    window_s,
    CAST(calls AS INT64) AS calls,
    CAST(failures AS INT64) AS failures,
    CAST(slow_calls AS INT64) AS slow_calls,
    slow_threshold_s,
    CAST(rejected AS INT64) AS rejected,
    breaker_state,
    vpc_state_source
FROM events
WHERE env = @env AND event = 'breaker_summary' AND ts >= @start AND ts < @end
ORDER BY ts, instance_id, insert_id
