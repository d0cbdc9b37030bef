-- telemetry_rows: the telemetry entries of the scan in exactly the lake's columns
-- (queries/lake_schema.sql, less source_file, ingested_at and date, which are the importer's):
-- what the engine fetches once a run and answers every question from with the lake's own
-- queries, and what a materialised table holds (shape `lake`). Deduplicated (`events`: one row
-- an insert id), every env of the source.
-- `payload` is a JSON object of just the fields the lake's queries read from the lake's payload
-- (breaker_summaries, config_loads, capacity_connector_readings); a field an entry lacks is
-- null. A breaker_summary's counts are whole (the lake view checked them) and written as such.
-- Reads: events. Parameters: those of lake_rows (@default_env, @env_services).
-- Returns: insert_id, ts, receive_ts, env, service, revision, instance_id, startup_id, event,
--   phase, phase_name, operation, outcome, vpc_state, breaker_state, from_state, to_state,
--   error_type, error, severity, message, duration_s, timeout_s, vpc_utilization, exit_code,
--   form, log_name, payload (STRING: a JSON object).
SELECT
    insert_id,
    ts,
    receive_ts,
    env,
    service,
    revision,
    instance_id,
    startup_id,
    event,
    phase,
    phase_name,
    operation,
    outcome,
    vpc_state,
    breaker_state,
    from_state,
    to_state,
    error_type,
    error,
    severity,
    message,
    duration_s,
    timeout_s,
    vpc_utilization,
    exit_code,
    form,
    log_name,
    TO_JSON_STRING(STRUCT(
        window_s,
        SAFE_CAST(calls AS INT64) AS calls,
        SAFE_CAST(failures AS INT64) AS failures,
        SAFE_CAST(slow_calls AS INT64) AS slow_calls,
        slow_threshold_s,
        SAFE_CAST(rejected AS INT64) AS rejected,
        vpc_state_source,
        outcome,
        config_path,
        generated_at,
        config_sha256,
        run_id,
        error,
        vpc_instances,
        vpc_max_instances
    )) AS payload
FROM events
