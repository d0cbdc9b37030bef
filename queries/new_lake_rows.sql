-- new_lake_rows: the telemetry of one import batch that the lake does not hold yet.
-- Reads: staged (normalised_entries.sql of the batch), stored_ids(insert_id) (the lake's ids).
-- Within the batch, a repeated insert_id (sink exports repeat entries) keeps its first row;
-- only the repeated ids go through the window, the rest pass straight through.
-- Returns: the lake's columns (lake_schema.sql). Parameters: none.
WITH candidates AS (
    SELECT
        s.insert_id, s.ts, s.receive_ts, s.env, s.service, s.revision, s.instance_id,
        s.startup_id, s.event, s.phase, s.phase_name, s.operation, s.outcome, s.vpc_state,
        s.breaker_state, s.from_state, s.to_state, s.error_type, s.error, s.severity, s.message,
        s.duration_s, s.timeout_s, s.vpc_utilization, s.exit_code, s.form, s.log_name, s.payload,
        s.source_file, s.ingested_at, s.date
    FROM staged AS s
    ANTI JOIN stored_ids AS k ON s.insert_id = k.insert_id
    WHERE s.disposition = 'stored'
),
repeated AS (
    SELECT insert_id FROM candidates GROUP BY insert_id HAVING count(*) > 1
)
SELECT c.* FROM candidates AS c ANTI JOIN repeated AS r ON c.insert_id = r.insert_id
UNION ALL
SELECT * FROM (
    SELECT c.* FROM candidates AS c SEMI JOIN repeated AS r ON c.insert_id = r.insert_id
    QUALIFY row_number() OVER (PARTITION BY insert_id ORDER BY ts, source_file) = 1
)
