-- lake_table_rows: the rows of a table that already holds the lake's columns (shape `lake`:
-- the materialised table that `analyze bigquery materialize` keeps, partitioned by DATE(ts)
-- and clustered by env, service): one env's, in the scan window. The filters on ts and env
-- prune its partitions and clusters: what bounds the bytes billed.
-- Reads: `lake_table` (the --source table, put in by the engine).
-- Parameters: @env (STRING), @scan_start, @scan_end (TIMESTAMP).
-- Returns: the columns of telemetry_rows.sql.
SELECT
    insert_id, ts, receive_ts, env, service, revision, instance_id, startup_id, event, phase,
    phase_name, operation, outcome, vpc_state, breaker_state, from_state, to_state, error_type,
    error, severity, message, duration_s, timeout_s, vpc_utilization, exit_code, form,
    log_name, payload
FROM `lake_table`
WHERE env = @env AND ts >= @scan_start AND ts < @scan_end
