-- attempt_total: about how many phase attempts one env's window holds, cheaply: its phase ends
-- (completions and failures), read without assembling the attempts. It chooses between
-- fetching the window's attempts one row each and counted (attempt_counts.sql).
-- Parameters: $env, $start, $end (TIMESTAMPTZ).
-- Returns one row: attempts.
SELECT count(*) AS attempts
FROM events
WHERE env = $env
  AND event IN ('phase_completed', 'phase_failed')
  AND ts >= $start
  AND ts < $end
