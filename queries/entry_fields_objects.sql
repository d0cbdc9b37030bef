-- entry_fields_objects: the entries of one import batch, each read whole and its fields pulled
-- out. Slower than entry_fields_columns.sql, but it takes any JSON the reader can parse (an
-- entry that is not an object, fields of unexpected types) and keeps each entry's text, so
-- the quarantine can hold it whole.
-- Variables: batch_files (the files to read, each as a glob pattern that matches only that
--   file), source_names (a MAP from each file to what the lake's source_file names: the
--   export it is, or a slice of), read_max_bytes (the reader's limit per entry),
--   max_entry_bytes (an entry whose payload, JSON or text, is larger is oversize: the
--   normaliser reads no more of it).
-- Returns: source_file, raw_entry (JSON), is_entry (BOOLEAN: a LogEntry object), oversize
--   (BOOLEAN), the entry's fields as text (insert_id, ts_raw, receive_raw, severity_raw,
--   log_name_raw, text_payload, service_raw, revision_raw, instance_raw) and p, the
--   jsonPayload (JSON).
WITH raw AS (
    SELECT getvariable('source_names')[filename] AS source_file, json AS entry
    FROM read_json_objects(getvariable('batch_files'), format = 'auto', filename = true,
        maximum_object_size = getvariable('read_max_bytes'))
),
extracted AS (
    -- One parse of each entry for all its fields (JSON functions parse the whole document on
    -- every call), converted to text as DuckDB's JSON reader converts them.
    SELECT
        source_file,
        entry AS raw_entry,
        json_transform(entry, '{
            "insertId": "VARCHAR", "timestamp": "VARCHAR", "receiveTimestamp": "VARCHAR",
            "severity": "VARCHAR", "logName": "VARCHAR", "textPayload": "VARCHAR",
            "resource": {"labels": {"service_name": "VARCHAR", "revision_name": "VARCHAR"}},
            "labels": {"instanceId": "VARCHAR"}, "jsonPayload": "JSON"
        }') AS e
    FROM raw
)
SELECT
    source_file, raw_entry,
    -- A value that is not an object, or an object with none of a LogEntry's fields (an array
    -- of entries, a saved `{"entries": [...]}` response), is not an entry.
    json_type(raw_entry) = 'OBJECT' AND NOT (e.insertId IS NULL AND e."timestamp" IS NULL
        AND e.receiveTimestamp IS NULL AND e.logName IS NULL AND e.textPayload IS NULL
        AND e.jsonPayload IS NULL AND e.resource IS NULL AND e.labels IS NULL) AS is_entry,
    coalesce(strlen(e.jsonPayload::VARCHAR), 0) + coalesce(strlen(e.textPayload), 0)
        > getvariable('max_entry_bytes') AS oversize,
    e.insertId AS insert_id, e."timestamp" AS ts_raw, e.receiveTimestamp AS receive_raw,
    e.severity AS severity_raw, e.logName AS log_name_raw, e.textPayload AS text_payload,
    e.resource.labels.service_name AS service_raw, e.resource.labels.revision_name AS revision_raw,
    e.labels.instanceId AS instance_raw, e.jsonPayload AS p
FROM extracted
