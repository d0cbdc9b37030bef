-- entry_fields_columns: the entries of one import batch through DuckDB's JSON reader with the
-- fields declared, so each entry is parsed once, as it is read. The fast way in, for entries
-- shaped as Cloud Logging writes them. It fails on anything else (an entry that is not an
-- object, a field of another type) and keeps no entry's text: the importer then reads the
-- batch again through entry_fields_objects.sql, which handles those, as it does when any entry
-- of the batch is quarantined.
-- Variables: batch_files, source_names, read_max_bytes, max_entry_bytes (as
--   entry_fields_objects.sql).
-- Returns: the columns of entry_fields_objects.sql, raw_entry NULL.
SELECT
    getvariable('source_names')[filename] AS source_file,
    NULL::JSON AS raw_entry,
    -- An object with none of a LogEntry's fields (a saved `{"entries": [...]}` response) is
    -- not an entry: the importer reads it again through entry_fields_objects.sql.
    NOT (insertId IS NULL AND "timestamp" IS NULL AND receiveTimestamp IS NULL
         AND logName IS NULL AND textPayload IS NULL AND jsonPayload IS NULL
         AND resource IS NULL AND labels IS NULL) AS is_entry,
    coalesce(strlen(jsonPayload::VARCHAR), 0) + coalesce(strlen(textPayload), 0)
        > getvariable('max_entry_bytes') AS oversize,
    insertId AS insert_id,
    "timestamp" AS ts_raw,
    receiveTimestamp AS receive_raw,
    severity AS severity_raw,
    logName AS log_name_raw,
    textPayload AS text_payload,
    resource.labels.service_name AS service_raw,
    resource.labels.revision_name AS revision_raw,
    labels.instanceId AS instance_raw,
    jsonPayload AS p
FROM read_json(getvariable('batch_files'), format = 'auto', filename = true,
    maximum_object_size = getvariable('read_max_bytes'),
    columns = {
        insertId: 'VARCHAR', "timestamp": 'VARCHAR', receiveTimestamp: 'VARCHAR',
        severity: 'VARCHAR', logName: 'VARCHAR', textPayload: 'VARCHAR',
        resource: 'STRUCT(labels STRUCT(service_name VARCHAR, revision_name VARCHAR))',
        labels: 'STRUCT(instanceId VARCHAR)', jsonPayload: 'JSON'
    })
