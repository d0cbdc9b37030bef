-- vpc_states: the VPC connector state timeline per env, from vpc_state_changed events.
-- Reads: events. Parameters: none.
-- Returns: env, ts (when the state began), vpc_state, from_state, vpc_utilization,
--   until (when the next state began; NULL for the state still in force).
SELECT
    env,
    ts,
    vpc_state,
    from_state,
    vpc_utilization,
    LEAD(ts) OVER (PARTITION BY env ORDER BY ts, insert_id) AS until
FROM events
WHERE event = 'vpc_state_changed' AND vpc_state IS NOT NULL
