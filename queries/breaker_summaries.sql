-- breaker_summaries: what the services' in-process breakers saw over their lives, one row per
-- `breaker_summary` event of one env in a window (docs/telemetry.md §2 v1.1; the counts are read
-- from `payload`, the lake has no columns for them).
-- Parameters: $env, $start, $end (TIMESTAMPTZ).
-- Returns: ts, service, revision, instance_id, vpc_state, operation, window_s, calls, failures,
--   slow_calls, slow_threshold_s, rejected, breaker_state, vpc_state_source (where the process's
--   VPC state came from: provider, monitor, none; NULL from runtimes before it); oldest first.
SELECT
    ts,
    service,
    revision,
    instance_id,
    coalesce(vpc_state, json_extract_string(payload, '$.vpc_state')) AS vpc_state,
    coalesce(operation, json_extract_string(payload, '$.operation')) AS operation,
    TRY_CAST(json_extract(payload, '$.window_s') AS DOUBLE) AS window_s,
    TRY_CAST(json_extract(payload, '$.calls') AS BIGINT) AS calls,
    TRY_CAST(json_extract(payload, '$.failures') AS BIGINT) AS failures,
    TRY_CAST(json_extract(payload, '$.slow_calls') AS BIGINT) AS slow_calls,
    TRY_CAST(json_extract(payload, '$.slow_threshold_s') AS DOUBLE) AS slow_threshold_s,
    TRY_CAST(json_extract(payload, '$.rejected') AS BIGINT) AS rejected,
    coalesce(breaker_state, json_extract_string(payload, '$.breaker_state')) AS breaker_state,
    json_extract_string(payload, '$.vpc_state_source') AS vpc_state_source
FROM events
WHERE env = $env AND event = 'breaker_summary' AND ts >= $start AND ts < $end
ORDER BY ts, instance_id, insert_id
