-- capacity_connector_readings: the VPC monitor's readings behind each change of one env's
-- connector into a strained state (pressure, scaling or critical) in a window: its instances
-- and max instances then (fields the runtime's monitor adds to vpc_state_changed; kept in the
-- lake's payload), where the event carries both.
-- Parameters: $env, $start, $end (TIMESTAMPTZ).
-- Returns: ts, vpc_state, instances, max_instances.
SELECT ts, vpc_state, instances, max_instances
FROM (
    SELECT
        ts,
        vpc_state,
        TRY_CAST(json_extract_string(payload, '$.vpc_instances') AS DOUBLE) AS instances,
        TRY_CAST(json_extract_string(payload, '$.vpc_max_instances') AS DOUBLE) AS max_instances
    FROM events
    WHERE env = $env AND event = 'vpc_state_changed' AND ts >= $start AND ts < $end
      AND vpc_state IN ('pressure', 'scaling', 'critical')
)
WHERE instances IS NOT NULL AND max_instances IS NOT NULL
ORDER BY ts
