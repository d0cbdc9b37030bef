-- phase_attempt_durations: the phase attempts of one env in a time window, as survival data.
-- Attempts with no end seen (incomplete) carry no duration and are left out. Times are epoch
-- seconds, so the result crosses into numpy without a per-row conversion. They are computed as
-- DuckDB's epoch() computes them (whole milliseconds / 1000 + the rest / 1e6), so both engines
-- hand the statistics the very same doubles: UNIX_MICROS(ts) / 1e6 differs in the last bit for
-- a third of instants, enough to move the breaker evidence in its eighth digit.
-- Reads: phase_attempts. Parameters: @env, @start, @end (TIMESTAMP: attempts that started in
--   [start, end)).
-- Returns: service ('unknown' where none was logged), phase, operation, vpc_state, started_s,
--   ended_s, duration_s,
--   observed (true when it completed: the duration is exact; false: right-censored),
--   timeout_s (in force). Unordered.
SELECT
    COALESCE(service, 'unknown') AS service,
    phase,
    operation,
    vpc_state,
    (DIV(UNIX_MICROS(started_at), 1000) / 1000 + MOD(UNIX_MICROS(started_at), 1000) / 1e6) AS started_s,
    (DIV(UNIX_MICROS(ended_at), 1000) / 1000 + MOD(UNIX_MICROS(ended_at), 1000) / 1e6) AS ended_s,
    duration_s,
    outcome = 'completed' AS observed,
    timeout_s
FROM phase_attempts
WHERE env = @env
  AND started_at >= @start
  AND started_at < @end
  AND duration_s IS NOT NULL
