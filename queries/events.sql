-- events: the event log, one row per telemetry entry, deduplicated by insert_id.
-- The importer never stores an insert_id twice; should two writers ever race, or a segment be
-- copied in twice by hand, the row ingested first wins here, so every projection below sees
-- each entry once. Finding repeated ids is one hash aggregate over a 64-bit hash of insert_id
-- (cheaper than over the strings); rows whose hash repeats, true repeats or the rare hash
-- collision, go through a window over the insert_id itself, so the answer is exact. A clean
-- lake costs little more than reading it.
-- Returns: the lake's columns (lake_schema.sql). Parameters: none.
WITH repeated AS (
    SELECT hash(insert_id) AS id_hash FROM lake_rows GROUP BY id_hash HAVING count(*) > 1
)
SELECT l.* FROM lake_rows AS l ANTI JOIN repeated AS r ON hash(l.insert_id) = r.id_hash
UNION ALL
SELECT * FROM (
    SELECT l.* FROM lake_rows AS l SEMI JOIN repeated AS r ON hash(l.insert_id) = r.id_hash
    QUALIFY row_number() OVER (PARTITION BY insert_id ORDER BY ingested_at, source_file) = 1
)
