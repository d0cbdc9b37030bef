-- fetch_rows: what the engine fetches, once for each part of a run's span: one env's telemetry
-- rows from @fetch_start to @fetch_end, in the lake's columns (telemetry_rows.sql), which it
-- then answers every question from with the lake's own queries; and, in the same statement,
-- the VPC state change in force at @fetch_start (the last before it since @scan_start: the
-- scan starts that far back when the engine asks for it, else at @fetch_start and there is
-- none) and the entries of the span by env, form and service, every env's (what the engine
-- checks: a source holding several envs beside text lines that name none).
-- Reads: telemetry_rows. Parameters: @env, @fetch_start, @fetch_end (TIMESTAMP); the scan's
--   @scan_start, @scan_end (the *_rows.sql files) and lake_rows' @default_env, @env_services.
-- Returns: kind ('row', 'prior' or 'mix'), the columns of telemetry_rows.sql, entries (a 'mix'
--   row's count of its env, form and service, the row one of them; NULL otherwise).
SELECT 'row' AS kind, s.*, CAST(NULL AS INT64) AS entries
FROM telemetry_rows AS s
WHERE s.env = @env AND s.ts >= @fetch_start AND s.ts < @fetch_end
UNION ALL
SELECT 'prior' AS kind, p.*, CAST(NULL AS INT64) AS entries
FROM (
    SELECT *
    FROM telemetry_rows
    WHERE env = @env AND event = 'vpc_state_changed' AND vpc_state IS NOT NULL
      AND ts < @fetch_start
    ORDER BY ts DESC, insert_id DESC
    LIMIT 1
) AS p
UNION ALL
SELECT 'mix' AS kind, m.*, COUNT(*) OVER (PARTITION BY m.env, m.form, m.service) AS entries
FROM telemetry_rows AS m
WHERE m.ts >= @fetch_start AND m.ts < @fetch_end
QUALIFY ROW_NUMBER() OVER (PARTITION BY m.env, m.form, m.service ORDER BY m.insert_id) = 1
