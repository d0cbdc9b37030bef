-- new_lake_rows: the telemetry of one import batch that the lake does not hold yet, each id once.
-- Reads: staged (normalised_entries.sql of the batch), suspects (suspect_ids.sql),
--   first_suspect_rows (first_suspect_rows.sql).
-- An id seen once in the batch and absent from the lake passes straight through; a suspect id
-- adds its first row if the lake lacks it, and nothing if the lake holds it.
-- Returns: the lake's columns (lake_schema.sql). Parameters: none.
SELECT s.* EXCLUDE (disposition, reason, entry_json)
FROM staged AS s
ANTI JOIN suspects AS x ON s.insert_id = x.insert_id
WHERE s.disposition = 'stored'
UNION ALL
SELECT * FROM first_suspect_rows
