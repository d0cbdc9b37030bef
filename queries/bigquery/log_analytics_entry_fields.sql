-- log_analytics_entry_fields: one row per Log Analytics row, the LogEntry fields the analysis
-- reads. `_AllLogs` names columns in snake_case, keeps json_payload, labels and resource.labels
-- as JSON with their keys' case (labels.instanceId), and does not deduplicate.
-- Reads: log_analytics_rows (log_analytics_rows.sql). Parameters: none.
-- Returns: the columns of sink_entry_fields.sql.
SELECT
    insert_id,
    timestamp AS ts,
    receive_timestamp AS receive_ts,
    severity_text AS severity,
    log_name,
    JSON_VALUE(r.resource.labels, '$.service_name') AS service,
    JSON_VALUE(r.resource.labels, '$.revision_name') AS revision,
    JSON_VALUE(labels, '$.instanceId') AS instance_id,
    text_payload,
    JSON_VALUE(json_payload, '$.event') AS p_event,
    JSON_VALUE(json_payload, '$.message') AS p_message,
    JSON_VALUE(json_payload, '$.env') AS p_env,
    JSON_VALUE(json_payload, '$.startup_id') AS p_startup_id,
    JSON_VALUE(json_payload, '$.phase_name') AS p_phase_name,
    JSON_VALUE(json_payload, '$.operation') AS p_operation,
    JSON_VALUE(json_payload, '$.outcome') AS p_outcome,
    JSON_VALUE(json_payload, '$.vpc_state') AS p_vpc_state,
    JSON_VALUE(json_payload, '$.breaker_state') AS p_breaker_state,
    JSON_VALUE(json_payload, '$.from_state') AS p_from_state,
    JSON_VALUE(json_payload, '$.to_state') AS p_to_state,
    JSON_VALUE(json_payload, '$.error_type') AS p_error_type,
    JSON_VALUE(json_payload, '$.error') AS p_error,
    JSON_VALUE(json_payload, '$.config_path') AS p_config_path,
    JSON_VALUE(json_payload, '$.generated_at') AS p_generated_at,
    JSON_VALUE(json_payload, '$.config_sha256') AS p_config_sha256,
    JSON_VALUE(json_payload, '$.run_id') AS p_run_id,
    SAFE_CAST(JSON_VALUE(json_payload, '$.phase') AS FLOAT64) AS p_phase,
    SAFE_CAST(JSON_VALUE(json_payload, '$.duration_s') AS FLOAT64) AS p_duration_s,
    SAFE_CAST(JSON_VALUE(json_payload, '$.timeout_s') AS FLOAT64) AS p_timeout_s,
    SAFE_CAST(JSON_VALUE(json_payload, '$.vpc_utilization') AS FLOAT64) AS p_vpc_utilization,
    SAFE_CAST(JSON_VALUE(json_payload, '$.exit_code') AS FLOAT64) AS p_exit_code,
    SAFE_CAST(JSON_VALUE(json_payload, '$.window_s') AS FLOAT64) AS p_window_s,
    SAFE_CAST(JSON_VALUE(json_payload, '$.calls') AS FLOAT64) AS p_calls,
    SAFE_CAST(JSON_VALUE(json_payload, '$.failures') AS FLOAT64) AS p_failures,
    SAFE_CAST(JSON_VALUE(json_payload, '$.slow_calls') AS FLOAT64) AS p_slow_calls,
    SAFE_CAST(JSON_VALUE(json_payload, '$.slow_threshold_s') AS FLOAT64) AS p_slow_threshold_s,
    SAFE_CAST(JSON_VALUE(json_payload, '$.rejected') AS FLOAT64) AS p_rejected
FROM log_analytics_rows AS r
