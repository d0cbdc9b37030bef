-- conflicting_rows: telemetry of one import batch whose insert_id is already taken, in the lake
-- or by the row of the batch being stored, by an entry with other content (another timestamp
-- or payload). Such a row is not a duplicate to drop silently: it goes to the quarantine.
-- Only suspect ids (suspect_ids.sql: seen twice in the batch, or in the batch and the lake)
-- can conflict.
-- Reads: staged, first_suspect_rows, lake_matches(insert_id, ts, payload): the lake's rows of
--   the suspect ids it holds.
-- Returns: insert_id, source_file, ingested_at, entry_json (the normalised row as JSON).
WITH kept AS (
    SELECT insert_id, ts, payload FROM first_suspect_rows
    UNION ALL
    SELECT insert_id, ts, payload FROM lake_matches
)
SELECT
    s.insert_id,
    s.source_file,
    s.ingested_at,
    to_json(s)::VARCHAR AS entry_json
FROM staged AS s
JOIN kept AS k ON s.insert_id = k.insert_id
WHERE s.disposition = 'stored'
  AND (s.ts IS DISTINCT FROM k.ts OR s.payload IS DISTINCT FROM k.payload)
