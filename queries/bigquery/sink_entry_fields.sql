-- sink_entry_fields: one row per sink table row, the LogEntry fields the analysis reads.
-- The sink writes LogEntry names as they are (insertId, textPayload, timestamp), jsonPayload as
-- a RECORD whose field names it lowercases (ours are lowercase already), every JSON number as
-- FLOAT, and labels.instanceId as labels.instanceid.
-- Reads: sink_rows (sink_table_rows.sql or sink_shard_rows.sql). Parameters: none.
-- Returns: insert_id, ts, receive_ts, severity, log_name, service, revision, instance_id,
--   text_payload, and the payload fields p_* (strings; p_phase, p_duration_s, p_timeout_s,
--   p_vpc_utilization, p_exit_code, and breaker_summary's p_window_s, p_calls, p_failures,
--   p_slow_calls, p_slow_threshold_s, p_rejected, and vpc_state_changed's p_vpc_instances,
--   p_vpc_max_instances as FLOAT64), among them those of
--   `config_loaded` (p_config_path, p_generated_at, p_config_sha256, p_run_id), and
--   p_vpc_state_source (breaker_summary, phase_context).
SELECT
    r.insertId AS insert_id,
    r.timestamp AS ts,
    r.receiveTimestamp AS receive_ts,
    r.severity,
    r.logName AS log_name,
    r.resource.labels.service_name AS service,
    r.resource.labels.revision_name AS revision,
    r.labels.instanceid AS instance_id,
    r.textPayload AS text_payload,
    r.jsonPayload.event AS p_event,
    r.jsonPayload.message AS p_message,
    r.jsonPayload.env AS p_env,
    r.jsonPayload.startup_id AS p_startup_id,
    r.jsonPayload.phase_name AS p_phase_name,
    r.jsonPayload.operation AS p_operation,
    r.jsonPayload.outcome AS p_outcome,
    r.jsonPayload.vpc_state AS p_vpc_state,
    r.jsonPayload.breaker_state AS p_breaker_state,
    r.jsonPayload.from_state AS p_from_state,
    r.jsonPayload.to_state AS p_to_state,
    r.jsonPayload.error_type AS p_error_type,
    r.jsonPayload.error AS p_error,
    r.jsonPayload.config_path AS p_config_path,
    r.jsonPayload.generated_at AS p_generated_at,
    r.jsonPayload.config_sha256 AS p_config_sha256,
    r.jsonPayload.run_id AS p_run_id,
    r.jsonPayload.vpc_state_source AS p_vpc_state_source,
    r.jsonPayload.phase AS p_phase,
    r.jsonPayload.duration_s AS p_duration_s,
    r.jsonPayload.timeout_s AS p_timeout_s,
    r.jsonPayload.vpc_utilization AS p_vpc_utilization,
    r.jsonPayload.exit_code AS p_exit_code,
    r.jsonPayload.window_s AS p_window_s,
    r.jsonPayload.calls AS p_calls,
    r.jsonPayload.failures AS p_failures,
    r.jsonPayload.slow_calls AS p_slow_calls,
    r.jsonPayload.slow_threshold_s AS p_slow_threshold_s,
    r.jsonPayload.rejected AS p_rejected,
    r.jsonPayload.vpc_instances AS p_vpc_instances,
    r.jsonPayload.vpc_max_instances AS p_vpc_max_instances
FROM sink_rows AS r
