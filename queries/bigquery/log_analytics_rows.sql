-- log_analytics_rows: the rows of a Log Analytics view (`_AllLogs` of a linked dataset) in the
-- scan window only (the view is partitioned on `timestamp`), of the services' own output only:
-- `_AllLogs` holds every log of the bucket (requests, audit, system logs), and Cloud Run puts
-- a process's stdout and stderr (where Python's logging writes) in the two logs read here.
-- Reads: `log_analytics_table` (the --source view, put in by the engine).
-- Parameters: @scan_start, @scan_end (TIMESTAMP).
-- Returns: the view's columns.
SELECT *
FROM `log_analytics_table`
WHERE log_id IN ('run.googleapis.com/stdout', 'run.googleapis.com/stderr')
  AND timestamp >= @scan_start AND timestamp < @scan_end
