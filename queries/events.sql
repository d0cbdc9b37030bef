-- events: the event log, one row per telemetry entry, deduplicated by insert_id.
-- The importer never stores an insert_id twice; should two writers ever race, or a segment be
-- copied in twice by hand, the row ingested first wins here, so every projection below sees
-- each entry once. Finding the repeated ids is one hash aggregate over insert_id; only their
-- rows go through the window, so a clean lake costs little more than reading it.
-- Returns: the lake's columns (lake_schema.sql). Parameters: none.
WITH repeated AS (
    SELECT insert_id FROM lake_rows GROUP BY insert_id HAVING count(*) > 1
)
SELECT * FROM lake_rows WHERE insert_id NOT IN (SELECT insert_id FROM repeated)
UNION ALL
SELECT * FROM (
    SELECT * FROM lake_rows WHERE insert_id IN (SELECT insert_id FROM repeated)
    QUALIFY row_number() OVER (PARTITION BY insert_id ORDER BY ingested_at, source_file) = 1
)
