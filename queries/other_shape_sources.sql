-- other_shape_sources: the files of one import batch that hold entries in another JSON shape
-- (an array of entries, a saved entries.list response): the importer rewrites them one entry a
-- line (analyzer/ingest/shapes.py) and reads them again.
-- Reads: staged (normalised_entries.sql of the batch). Parameters: $not_an_entry (the reason a
--   value that is not a log entry is given).
-- Returns: source_file, once per file.
SELECT DISTINCT source_file
FROM staged
WHERE reason = $not_an_entry
  AND (json_type(entry_json::JSON) = 'ARRAY' OR json_exists(entry_json, '$.entries'))
