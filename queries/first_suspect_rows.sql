-- first_suspect_rows: for each suspect id (suspect_ids.sql) the lake does not hold, the batch's
-- first row of it (by ts, then source_file): the one row of that id the import stores.
-- Reads: staged, suspects. Returns: the lake's columns (lake_schema.sql). Parameters: none.
SELECT s.* EXCLUDE (disposition, reason, entry_json)
FROM staged AS s
SEMI JOIN (SELECT insert_id FROM suspects WHERE NOT in_lake) AS x ON s.insert_id = x.insert_id
WHERE s.disposition = 'stored'
QUALIFY row_number() OVER (PARTITION BY s.insert_id ORDER BY s.ts, s.source_file) = 1
