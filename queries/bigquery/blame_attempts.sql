-- blame_attempts: the startups of one env that began in a window, one row per phase attempt
-- of each, with the startup's own wall time and outcome beside the attempt's.
-- Attempts with no end seen carry no duration and are left out.
-- Reads: startups, phase_attempts. Parameters: @env, @start, @end (TIMESTAMP: startups that
--   began in [start, end)).
-- Returns: service, revision, startup_id, startup_started_at (TIMESTAMP),
--   startup_duration_s (start to its completed or failed event; NULL: no end seen),
--   startup_outcome ('completed' | 'failed' | 'incomplete'), phase, phase_name, operation,
--   vpc_state, duration_s, outcome ('completed' | 'timeout' | 'error'). Unordered.
SELECT
    COALESCE(s.service, 'unknown') AS service,
    COALESCE(s.revision, 'unknown') AS revision,
    s.startup_id,
    s.started_at AS startup_started_at,
    s.duration_s AS startup_duration_s,
    s.outcome AS startup_outcome,
    a.phase,
    a.phase_name,
    a.operation,
    a.vpc_state,
    a.duration_s,
    a.outcome
FROM startups AS s
JOIN phase_attempts AS a
    ON a.env = s.env AND a.startup_id = s.startup_id
WHERE s.env = @env
  AND s.started_at >= @start
  AND s.started_at < @end
  AND a.duration_s IS NOT NULL
