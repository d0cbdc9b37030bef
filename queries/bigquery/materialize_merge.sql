-- materialize_merge: adds envs' telemetry of whole UTC days (materialize_rows.sql, put in
-- place of `materialize_rows` by the engine) to the materialised table (`materialized_table`,
-- the --dest: the lake's columns, partitioned by DATE(ts), clustered by env and service). An
-- entry the table holds already (the same insert id at the same time) is left as it is, so a
-- rerun adds nothing and an entry a sink delivered twice is added once. The condition on the
-- table's ts reads only the days' partitions (and meets require_partition_filter).
-- Parameters: @envs (ARRAY<STRING>), @scan_start, @scan_end (TIMESTAMP), and materialize_rows'.
-- Returns: nothing (the job's count of rows inserted).
MERGE `materialized_table` AS held
USING (materialize_rows) AS fresh
ON held.insert_id = fresh.insert_id AND held.ts = fresh.ts
   AND held.env = fresh.env AND held.env IN UNNEST(@envs)
   AND held.ts >= @scan_start AND held.ts < @scan_end
WHEN NOT MATCHED THEN INSERT (
    insert_id, ts, receive_ts, env, service, revision, instance_id, startup_id, event, phase,
    phase_name, operation, outcome, vpc_state, breaker_state, from_state, to_state, error_type,
    error, severity, message, duration_s, timeout_s, vpc_utilization, exit_code, form,
    log_name, payload
) VALUES (
    fresh.insert_id, fresh.ts, fresh.receive_ts, fresh.env, fresh.service, fresh.revision,
    fresh.instance_id, fresh.startup_id, fresh.event, fresh.phase, fresh.phase_name,
    fresh.operation, fresh.outcome, fresh.vpc_state, fresh.breaker_state, fresh.from_state,
    fresh.to_state, fresh.error_type, fresh.error, fresh.severity, fresh.message,
    fresh.duration_s, fresh.timeout_s, fresh.vpc_utilization, fresh.exit_code, fresh.form,
    fresh.log_name, fresh.payload
)
