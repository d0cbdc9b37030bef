-- new_quarantine_rows: the malformed telemetry of one import batch not yet in the quarantine.
-- Reads: staged (normalised_entries.sql of the batch), quarantined_hashes(entry_hash).
-- Parameters: $default_env (the --env of the import).
-- Returns: env, insert_id, reason, source_file, ingested_at, entry_hash (md5 of the entry),
--   entry (the whole entry as JSON text, so nothing is lost).
SELECT
    $default_env AS env,
    s.insert_id,
    s.reason,
    s.source_file,
    s.ingested_at,
    md5(s.entry_json) AS entry_hash,
    s.entry_json AS entry
FROM staged AS s
ANTI JOIN quarantined_hashes AS q ON md5(s.entry_json) = q.entry_hash
WHERE s.disposition = 'quarantined'
QUALIFY row_number() OVER (PARTITION BY md5(s.entry_json) ORDER BY s.source_file) = 1
