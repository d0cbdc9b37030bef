-- vpc_state_before: the last VPC state change of one env before a time, however far back the
-- engine reads (--lookback): the state in force when the scan starts, as the lake keeps the
-- whole timeline. A small query of the engine's, made before the questions of a window; its
-- row is then read by every scan (@prior_ts, @prior_insert_id in the *_rows.sql files).
-- Reads: events. Parameters: @env (STRING), @before (TIMESTAMP).
-- Returns: insert_id, ts; no row when the env had no state change before @before.
SELECT insert_id, ts
FROM events
WHERE env = @env AND event = 'vpc_state_changed' AND vpc_state IS NOT NULL AND ts < @before
ORDER BY ts DESC, insert_id DESC
LIMIT 1
