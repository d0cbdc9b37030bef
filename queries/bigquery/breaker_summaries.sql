-- breaker_summaries: what the services' in-process breakers saw over their lives, one row per
-- `breaker_summary` event of one env in a window (TELEMETRY.md §2 v1.1). Its counts are no
-- columns of the lake's events, so they are read from the entries' fields, deduplicated by
-- insert id as the events view does (the row received first wins).
-- Reads: entry_fields. Parameters: @env, @start, @end (TIMESTAMP), @default_env (STRING).
-- Returns: ts, service, revision, instance_id, vpc_state, operation, window_s, calls, failures,
--   slow_calls, slow_threshold_s, rejected, breaker_state; oldest first.
SELECT
    ts,
    service,
    revision,
    instance_id,
    p_vpc_state AS vpc_state,
    p_operation AS operation,
    p_window_s AS window_s,
    SAFE_CAST(p_calls AS INT64) AS calls,
    SAFE_CAST(p_failures AS INT64) AS failures,
    SAFE_CAST(p_slow_calls AS INT64) AS slow_calls,
    p_slow_threshold_s AS slow_threshold_s,
    SAFE_CAST(p_rejected AS INT64) AS rejected,
    p_breaker_state AS breaker_state
FROM entry_fields
WHERE p_event = 'breaker_summary' AND COALESCE(p_env, @default_env) = @env
  AND ts >= @start AND ts < @end
QUALIFY ROW_NUMBER() OVER (PARTITION BY insert_id ORDER BY receive_ts, ts) = 1
ORDER BY ts, instance_id
