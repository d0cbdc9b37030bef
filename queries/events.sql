-- events: the event log, one row per telemetry entry, deduplicated by insert_id.
-- The importer never stores an insert_id twice; should two writers ever race, the row ingested
-- first wins here, so every projection below sees each entry once.
-- Returns: the lake's columns (lake_schema.sql). Parameters: none.
SELECT *
FROM lake_rows
QUALIFY row_number() OVER (PARTITION BY insert_id ORDER BY ingested_at, source_file) = 1
