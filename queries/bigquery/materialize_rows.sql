-- materialize_rows: the telemetry entries of some envs (@envs) over whole UTC days in the lake's
-- columns (telemetry_rows.sql: deduplicated by insert id, noise lines dropped), what `analyze
-- bigquery materialize` and its daily scheduled query add to the materialised table
-- (materialize_merge.sql): every env asked in one pass, so a table holding several envs is read
-- once a day. Each row depends on its own entry only, so a day's rows are the same whenever they
-- are read: no attempt is cut at midnight, the lake's queries pair them.
-- One env asked: an entry that names no env (a text line) is @default_env's (the env), or no
-- env's where @env_services names the env's services and its service is not one
-- (lake_rows.sql); where such lines sit beside entries naming envs and @env_services is empty,
-- counting them as the env could mix envs: the statement then fails (ERROR), as the engine
-- refuses such a source. Several envs asked (@default_env ''): every entry must name its env,
-- or the statement fails. An env is matched whatever its case, and written in lower case as
-- asked. (The messages are constants: the emulator the tests use cannot run ERROR over
-- anything else.)
-- Reads: telemetry_rows. Parameters: @envs (ARRAY<STRING>, lower case); @scan_start,
--   @scan_end (TIMESTAMP: the days, midnight to midnight UTC, which the scan of the source
--   reads and no more); those of lake_rows (@default_env: the env, or '' for several;
--   @env_services).
-- Returns: the columns of telemetry_rows.sql, `payload` only where the lake's queries read it
--   (breaker_summary, config_loaded, vpc_state_changed).
SELECT
    * EXCEPT (structured_entries, text_entries, unsaid_entries, env, payload),
    LOWER(env) AS env,
    -- the lake's queries read `payload` of these events only: other rows hold none (it would
    -- be some 250 bytes a row of JSON nulls, more than the rest of the row)
    IF(event IN ('breaker_summary', 'config_loaded', 'vpc_state_changed'), payload, NULL)
        AS payload
FROM (
    SELECT
        t.*,
        COUNT(IF(t.form = 'structured', 1, NULL)) OVER () AS structured_entries,
        COUNT(IF(t.form = 'text', 1, NULL)) OVER () AS text_entries,
        COUNT(IF(t.env = '', 1, NULL)) OVER () AS unsaid_entries
    FROM telemetry_rows AS t
)
WHERE LOWER(env) IN UNNEST(@envs) AND ts >= @scan_start AND ts < @scan_end
  AND IF(structured_entries > 0 AND text_entries > 0 AND ARRAY_LENGTH(@env_services) = 0
         AND @default_env <> '',
         ERROR('analyzer: text lines that say no env beside entries naming envs'),
         TRUE)
  AND IF(unsaid_entries > 0,
         ERROR('analyzer: entries that say no env, several envs asked'),
         TRUE)
