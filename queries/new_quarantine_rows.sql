-- new_quarantine_rows: the malformed telemetry of one import batch not yet in the quarantine,
-- and the rows whose insert_id another entry already holds (conflicting_rows.sql).
-- Reads: staged (normalised_entries.sql of the batch), conflicts, quarantined_hashes(entry_hash).
-- Parameters: $default_env (the --env of the import), $conflict_reason (the conflicts' reason).
-- Returns: env, insert_id, reason, source_file, ingested_at, entry_hash (md5 of the entry),
--   entry (the whole entry as JSON text, so nothing is lost).
WITH candidates AS (
    SELECT insert_id, reason, source_file, ingested_at, entry_json
    FROM staged
    WHERE disposition = 'quarantined'
    UNION ALL
    SELECT insert_id, $conflict_reason, source_file, ingested_at, entry_json
    FROM conflicts
)
SELECT
    $default_env AS env,
    c.insert_id,
    c.reason,
    c.source_file,
    c.ingested_at,
    md5(c.entry_json) AS entry_hash,
    c.entry_json AS entry
FROM candidates AS c
ANTI JOIN quarantined_hashes AS q ON md5(c.entry_json) = q.entry_hash
QUALIFY row_number() OVER (PARTITION BY md5(c.entry_json) ORDER BY c.source_file) = 1
