-- suspect_ids: the telemetry ids of one import batch that are not plainly new: repeated within
-- the batch (sink exports repeat entries), or already held by the lake. Every other row is
-- stored as it is, with no window and no lookup of its own.
-- Reads: staged (normalised_entries.sql of the batch), stored_ids(insert_id) (the lake's ids).
-- Returns: insert_id, in_lake (BOOLEAN). Parameters: none.
WITH batch_ids AS (
    SELECT insert_id, count(*) AS copies FROM staged WHERE disposition = 'stored'
    GROUP BY insert_id
),
in_lake AS (
    SELECT DISTINCT k.insert_id FROM stored_ids AS k SEMI JOIN batch_ids AS b
        ON k.insert_id = b.insert_id
)
SELECT b.insert_id, l.insert_id IS NOT NULL AS in_lake
FROM batch_ids AS b
LEFT JOIN in_lake AS l ON b.insert_id = l.insert_id
WHERE b.copies > 1 OR l.insert_id IS NOT NULL
