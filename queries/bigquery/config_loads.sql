-- config_loads: which timeout config each service revision of an env ran with, from the
-- runtime's `config_loaded` events (one per process start), as queries/config_loads.sql answers
-- over the lake; the fields the lake reads from `payload` are lake_rows' config_* columns.
-- Reads: events (events.sql). Parameters: @env (STRING), @services (ARRAY<STRING>: only these
--   services; empty: every one).
-- Returns: service, revision, outcome (analyzer.runtime CONFIG_OUTCOMES: 'loaded',
--   'section-missing', 'env-mismatch' or 'fallback'), config_path, generated_at,
--   config_sha256, run_id, error, processes (events counted), first_ts, last_ts; oldest first.
SELECT
    service,
    revision,
    outcome,
    config_path,
    generated_at,
    config_sha256,
    run_id,
    error,
    COUNT(*) AS processes,
    MIN(ts) AS first_ts,
    MAX(ts) AS last_ts
FROM events
WHERE env = @env AND event = 'config_loaded'
  AND (ARRAY_LENGTH(@services) = 0 OR COALESCE(service, 'unknown') IN UNNEST(@services))
GROUP BY service, revision, outcome, config_path, generated_at, config_sha256, run_id, error
ORDER BY first_ts, service, revision
