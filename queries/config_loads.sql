-- config_loads: which timeout config each service revision of an env ran with, from the
-- runtime's `config_loaded` events (one per process start; fields read from `payload`).
-- Parameters: $env, $services (VARCHAR[]: only these services; empty: every one).
-- Returns: service, revision, outcome (analyzer.runtime CONFIG_OUTCOMES: 'loaded',
--   'section-missing', 'env-mismatch' or 'fallback'), config_path, generated_at,
--   config_sha256, run_id, error, processes (events counted), first_ts, last_ts; oldest first.
SELECT
    service,
    revision,
    json_extract_string(payload, '$.outcome') AS outcome,
    json_extract_string(payload, '$.config_path') AS config_path,
    json_extract_string(payload, '$.generated_at') AS generated_at,
    json_extract_string(payload, '$.config_sha256') AS config_sha256,
    json_extract_string(payload, '$.run_id') AS run_id,
    json_extract_string(payload, '$.error') AS error,
    count(*) AS processes,
    min(ts) AS first_ts,
    max(ts) AS last_ts
FROM events
WHERE env = $env AND event = 'config_loaded'
  AND (len(CAST($services AS VARCHAR[])) = 0
       OR list_contains(CAST($services AS VARCHAR[]), coalesce(service, 'unknown')))
GROUP BY ALL
ORDER BY first_ts, service, revision
