-- lake_rows: the telemetry entries among entry_fields, in the lake's columns (docs/telemetry.md §2-§4),
-- as the importer's normaliser (queries/normalised_entries.sql) reads them: structured events
-- (a payload with an `event`) and the seed's text lines (textPayload, or a jsonPayload with only
-- a message). Entries that are not telemetry, and telemetry the importer would quarantine
-- (unknown event, phase or duration out of range, a phase_failed without timeout or error...),
-- are left out: BigQuery has no quarantine, and the lake would not answer with them either.
-- An entry's env is its payload's `env`, else @default_env (the --env asked: a table of text
-- lines is one env, as an imported file is); where @env_services is not empty (the --env's
-- services, in a table holding several envs), an entry without env of another service has
-- none (NULL: no env's).
-- A value is read from a line with REGEXP_EXTRACT_ALL(...)[SAFE_OFFSET(0)]: NULL when the line does
-- not match, as REGEXP_EXTRACT gives, in a form the emulator the tests use also runs.
-- A breaker_summary, structured or its text line ("Circuit breaker summary: N calls, M failures,
-- state X (window_s=... slow_calls=...)"), is read into the same columns and kept only when the
-- normaliser's checks pass: window_s present and in 0..31 days, whole non-negative calls and
-- failures (slow_calls and rejected too where given) with failures and slow_calls at most the
-- calls, at most 10,000 calls a second of window_s (one process's breaker), slow_threshold_s finite and positive where given, breaker_state CLOSED, OPEN or HALF_OPEN.
-- Not kept: the payload as JSON (it would read every payload field), source_file, ingested_at.
-- Reads: entry_fields (sink_entry_fields.sql or log_analytics_entry_fields.sql).
-- Parameters: @default_env (STRING), @env_services (ARRAY<STRING>).
-- Returns: insert_id, ts, receive_ts, env, service, revision, instance_id, startup_id, event,
--   phase, phase_name, operation, outcome, vpc_state, breaker_state, from_state, to_state,
--   error_type, error, severity, message, duration_s, timeout_s, vpc_utilization, exit_code,
--   form ('structured' | 'text'); breaker_summary's window_s, calls, failures, slow_calls,
--   slow_threshold_s, rejected (FLOAT64, as the sink holds numbers); and, where the lake reads them from `payload`, the
--   `config_loaded` fields config_path, generated_at, config_sha256, run_id, and
--   vpc_state_source (breaker_summary, phase_context); vpc_state_changed's vpc_instances,
--   vpc_max_instances (FLOAT64); log_name. A text line of
--   config_loaded ("Timeout config loaded from ...") is not one of the seed's lines: the
--   importer skips it as not telemetry, and so does this view.
WITH lines AS (
    SELECT
        *,
        p_event IS NOT NULL AS is_structured,
        COALESCE(text_payload, IF(p_event IS NULL, p_message, NULL)) AS text_line
    FROM entry_fields
),
kinds AS (
    -- The seed's text lines (docs/telemetry.md §3). Lines may carry a logger prefix: nothing anchored.
    SELECT
        *,
        CASE
            WHEN is_structured OR text_line IS NULL THEN NULL
            WHEN NOT (STRPOS(text_line, 'SMD ') > 0 OR STRPOS(text_line, 'VPC connector') > 0
                      OR STRPOS(text_line, 'Database ') > 0
                      OR STRPOS(text_line, 'Circuit breaker summary: ') > 0) THEN NULL
            WHEN REGEXP_CONTAINS(text_line, r'SMD startup sequence beginning') THEN 'startup_started'
            WHEN REGEXP_CONTAINS(text_line, r'SMD Phase \d+: .+ starting') THEN 'phase_started'
            WHEN REGEXP_CONTAINS(text_line, r'SMD Phase \d+ timeout calculation: .*final=[0-9.]+s') THEN 'timeout_calculated'
            WHEN REGEXP_CONTAINS(text_line, r'SMD Phase \d+ completed successfully in [0-9.]+s') THEN 'phase_completed'
            WHEN REGEXP_CONTAINS(text_line, r'SMD Phase \d+ .*timeout after [0-9.]+s') THEN 'phase_timeout'
            WHEN REGEXP_CONTAINS(text_line, r'SMD Phase \d+ .*failed: ') THEN 'phase_error'
            WHEN REGEXP_CONTAINS(text_line, r'VPC connector state: \S+, Circuit breaker: \S+') THEN 'phase_context'
            WHEN REGEXP_CONTAINS(text_line, r'VPC connector capacity state changed: \S+ -> \S+') THEN 'vpc_state_changed'
            WHEN REGEXP_CONTAINS(text_line, r'Database circuit breaker: Opening circuit') THEN 'breaker_open'
            WHEN REGEXP_CONTAINS(text_line, r'Database circuit breaker: Attempting half-open') THEN 'breaker_half_open'
            WHEN REGEXP_CONTAINS(text_line, r'Database circuit breaker: Success recorded, closing circuit') THEN 'breaker_closed'
            WHEN REGEXP_CONTAINS(text_line, r'Database fallback applied') THEN 'degradation_applied'
            WHEN REGEXP_CONTAINS(text_line, r'SMD startup sequence completed') THEN 'startup_completed'
            WHEN REGEXP_CONTAINS(text_line, r'SMD startup failed: container exit code \d+') THEN 'startup_failed'
            WHEN REGEXP_CONTAINS(text_line, r'Circuit breaker summary: \d+ calls, \d+ failures, state \S+') THEN 'summary'
        END AS line_kind
    FROM lines
),
valued AS (
    SELECT
        *,
        CASE
            WHEN is_structured THEN p_event
            WHEN line_kind IN ('phase_timeout', 'phase_error') THEN 'phase_failed'
            WHEN line_kind = 'summary' THEN 'breaker_summary'
            WHEN STARTS_WITH(line_kind, 'breaker_') THEN 'breaker_transition'
            ELSE line_kind
        END AS event_name,
        IF(is_structured, p_phase,
           SAFE_CAST(REGEXP_EXTRACT_ALL(text_line, r'SMD Phase (\d+)')[SAFE_OFFSET(0)] AS FLOAT64)) AS phase_value,
        CASE
            WHEN is_structured THEN p_duration_s
            WHEN line_kind = 'phase_completed'
                THEN SAFE_CAST(REGEXP_EXTRACT_ALL(text_line, r'completed successfully in ([0-9.]+)s')[SAFE_OFFSET(0)] AS FLOAT64)
            WHEN line_kind = 'phase_timeout'
                THEN SAFE_CAST(REGEXP_EXTRACT_ALL(text_line, r'timeout after ([0-9.]+)s')[SAFE_OFFSET(0)] AS FLOAT64)
        END AS duration_value,
        CASE
            WHEN is_structured THEN p_timeout_s
            WHEN line_kind = 'timeout_calculated'
                THEN SAFE_CAST(REGEXP_EXTRACT_ALL(text_line, r'final=([0-9.]+)s')[SAFE_OFFSET(0)] AS FLOAT64)
            WHEN line_kind = 'phase_timeout'
                THEN SAFE_CAST(REGEXP_EXTRACT_ALL(text_line, r'timeout after ([0-9.]+)s')[SAFE_OFFSET(0)] AS FLOAT64)
        END AS timeout_value,
        CASE
            WHEN is_structured THEN p_vpc_utilization
            WHEN line_kind = 'vpc_state_changed'
                THEN SAFE_CAST(REGEXP_EXTRACT_ALL(text_line, r'utilization=([0-9.]+)')[SAFE_OFFSET(0)] AS FLOAT64)
        END AS utilization_value,
        CASE
            WHEN is_structured THEN p_exit_code
            WHEN line_kind = 'startup_failed'
                THEN SAFE_CAST(REGEXP_EXTRACT_ALL(text_line, r'container exit code (\d+)')[SAFE_OFFSET(0)] AS FLOAT64)
        END AS exit_code_value,
        -- a text summary's fields as its line gives them: NULL where absent
        IF(line_kind = 'summary', REGEXP_EXTRACT_ALL(text_line, r'[( ]window_s=([^ )]+)')[SAFE_OFFSET(0)], NULL) AS window_text,
        IF(line_kind = 'summary', REGEXP_EXTRACT_ALL(text_line, r'[( ]slow_calls=([^ )]+)')[SAFE_OFFSET(0)], NULL) AS slow_calls_text,
        IF(line_kind = 'summary', REGEXP_EXTRACT_ALL(text_line, r'[( ]slow_threshold_s=([^ )]+)')[SAFE_OFFSET(0)], NULL) AS slow_threshold_text,
        IF(line_kind = 'summary', REGEXP_EXTRACT_ALL(text_line, r'[( ]rejected=([^ )]+)')[SAFE_OFFSET(0)], NULL) AS rejected_text
    FROM kinds
    WHERE is_structured OR line_kind IS NOT NULL
),
summaries AS (
    -- breaker_summary's fields, each as a number (the structured payload's, or the text line's)
    SELECT
        *,
        IF(is_structured, p_window_s, SAFE_CAST(window_text AS FLOAT64)) AS window_value,
        IF(is_structured, p_calls,
           SAFE_CAST(REGEXP_EXTRACT_ALL(text_line, r'summary: (\d+) calls')[SAFE_OFFSET(0)] AS FLOAT64)) AS calls_value,
        IF(is_structured, p_failures,
           SAFE_CAST(REGEXP_EXTRACT_ALL(text_line, r' (\d+) failures, state')[SAFE_OFFSET(0)] AS FLOAT64)) AS failures_value,
        IF(is_structured, p_slow_calls, SAFE_CAST(slow_calls_text AS FLOAT64)) AS slow_calls_value,
        IF(is_structured, p_slow_threshold_s, SAFE_CAST(slow_threshold_text AS FLOAT64)) AS slow_threshold_value,
        IF(is_structured, p_rejected, SAFE_CAST(rejected_text AS FLOAT64)) AS rejected_value,
        IF(is_structured, p_breaker_state,
           REGEXP_EXTRACT_ALL(text_line, r'failures, state (\S+)')[SAFE_OFFSET(0)]) AS summary_state,
        -- a text count is whole digits; a text number one the cast reads
        (window_text IS NULL OR SAFE_CAST(window_text AS FLOAT64) IS NOT NULL)
            AND (slow_calls_text IS NULL OR REGEXP_CONTAINS(slow_calls_text, r'^-?\d+$'))
            AND (rejected_text IS NULL OR REGEXP_CONTAINS(rejected_text, r'^-?\d+$'))
            AND (slow_threshold_text IS NULL OR SAFE_CAST(slow_threshold_text AS FLOAT64) IS NOT NULL)
            AS summary_text_ok
    FROM valued
),
kept AS (
    -- What the normaliser would quarantine is left out (its reasons).
    SELECT *
    FROM summaries
    WHERE insert_id IS NOT NULL AND insert_id <> '' AND ts IS NOT NULL
      AND event_name IS NOT NULL
      -- a text line is what its pattern read; a structured payload must pass the checks
      AND (NOT is_structured OR (
          event_name IN (
              'startup_started', 'phase_started', 'timeout_calculated', 'phase_completed',
              'phase_failed', 'phase_context', 'degradation_applied', 'breaker_transition',
              'vpc_state_changed', 'startup_completed', 'startup_failed',
              'config_loaded', 'breaker_summary')
          AND (p_env IS NULL OR p_env = @default_env OR REGEXP_CONTAINS(p_env, r'^[A-Za-z0-9_.-]{1,64}$'))
          AND (phase_value IS NULL OR (phase_value = TRUNC(phase_value) AND phase_value BETWEEN 1 AND 1000))
          AND (phase_value IS NOT NULL
               OR event_name NOT IN ('phase_started', 'timeout_calculated', 'phase_completed', 'phase_failed'))
          AND (duration_value IS NULL OR duration_value BETWEEN 0 AND 86400)
          AND (duration_value IS NOT NULL OR event_name NOT IN ('phase_completed', 'phase_failed'))
          AND (timeout_value IS NULL OR (timeout_value > 0 AND timeout_value <= 86400))
          AND (event_name <> 'phase_failed' OR p_outcome IN ('timeout', 'error'))
          -- analyzer.runtime CONFIG_OUTCOMES
          AND (event_name <> 'config_loaded'
               OR p_outcome IN ('loaded', 'section-missing', 'env-mismatch', 'fallback'))
          AND (utilization_value IS NULL OR utilization_value BETWEEN 0 AND 1)
          AND (exit_code_value IS NULL OR (exit_code_value = TRUNC(exit_code_value)
                                           AND ABS(exit_code_value) < 2147483648))))
      -- a breaker_summary, of either form, as the normaliser checks it
      AND (event_name <> 'breaker_summary' OR (
          COALESCE(summary_text_ok, TRUE)
          AND window_value BETWEEN 0 AND 31 * 86400
          AND calls_value = TRUNC(calls_value) AND calls_value BETWEEN 0 AND 9.2e18
          AND calls_value <= 10000 * window_value  -- at most 10,000 calls a second of one process
          AND failures_value = TRUNC(failures_value) AND failures_value BETWEEN 0 AND calls_value
          AND (slow_calls_value IS NULL OR (slow_calls_value = TRUNC(slow_calls_value)
                                            AND slow_calls_value BETWEEN 0 AND calls_value))
          AND (rejected_value IS NULL OR (rejected_value = TRUNC(rejected_value)
                                          AND rejected_value BETWEEN 0 AND 9.2e18))
          AND (slow_threshold_value IS NULL OR (slow_threshold_value > 0
                                                AND NOT IS_INF(slow_threshold_value)
                                                AND NOT IS_NAN(slow_threshold_value)))
          AND (summary_state IS NULL OR summary_state IN ('CLOSED', 'OPEN', 'HALF_OPEN'))))
)
SELECT
    insert_id,
    ts,
    receive_ts,
    -- an env matched whatever its case, as the runtime and the normaliser match it
    -- an entry whose payload names no env: @default_env's, unless @env_services names the
    -- services of @default_env in a table holding several envs and its service is not one
    COALESCE(
        IF(is_structured AND LOWER(p_env) <> LOWER(@default_env), p_env, NULL),
        IF(p_env IS NULL AND ARRAY_LENGTH(@env_services) > 0
           AND service NOT IN UNNEST(@env_services), NULL, @default_env)
    ) AS env,
    service,
    revision,
    instance_id,
    COALESCE(p_startup_id, instance_id) AS startup_id,
    event_name AS event,
    CAST(phase_value AS INT64) AS phase,
    CASE
        WHEN is_structured THEN p_phase_name
        WHEN line_kind = 'phase_started' THEN LOWER(REGEXP_EXTRACT_ALL(text_line, r'SMD Phase \d+: (\S+)')[SAFE_OFFSET(0)])
    END AS phase_name,
    CASE
        WHEN is_structured THEN COALESCE(
            p_operation,
            IF(event_name IN ('phase_started', 'timeout_calculated', 'phase_completed', 'phase_failed'),
               'initialization', NULL))
        WHEN line_kind IN ('phase_started', 'timeout_calculated', 'phase_completed', 'phase_timeout', 'phase_error')
            THEN 'initialization'
        WHEN line_kind = 'summary' THEN REGEXP_EXTRACT_ALL(text_line, r'[( ]operation=([^ )]+)')[SAFE_OFFSET(0)]
    END AS operation,
    CASE
        WHEN is_structured THEN p_outcome
        WHEN line_kind = 'phase_timeout' THEN 'timeout'
        WHEN line_kind = 'phase_error' THEN 'error'
    END AS outcome,
    CASE
        WHEN is_structured THEN COALESCE(p_vpc_state, IF(event_name = 'vpc_state_changed', p_to_state, NULL))
        WHEN line_kind = 'phase_context' THEN REGEXP_EXTRACT_ALL(text_line, r'VPC connector state: ([^,\s]+)')[SAFE_OFFSET(0)]
        WHEN line_kind = 'vpc_state_changed' THEN REGEXP_EXTRACT_ALL(text_line, r' -> (\S+)')[SAFE_OFFSET(0)]
        WHEN line_kind = 'summary' THEN REGEXP_EXTRACT_ALL(text_line, r'[( ]vpc_state=([^ )]+)')[SAFE_OFFSET(0)]
    END AS vpc_state,
    CASE
        WHEN is_structured THEN p_breaker_state
        WHEN line_kind = 'phase_context' THEN REGEXP_EXTRACT_ALL(text_line, r'Circuit breaker: (\S+)')[SAFE_OFFSET(0)]
        WHEN line_kind = 'summary' THEN summary_state
    END AS breaker_state,
    CASE
        WHEN is_structured THEN p_from_state
        WHEN line_kind = 'vpc_state_changed' THEN REGEXP_EXTRACT_ALL(text_line, r'state changed: (\S+) ->')[SAFE_OFFSET(0)]
    END AS from_state,
    CASE
        WHEN is_structured THEN p_to_state
        WHEN line_kind = 'vpc_state_changed' THEN REGEXP_EXTRACT_ALL(text_line, r' -> (\S+)')[SAFE_OFFSET(0)]
        WHEN line_kind = 'breaker_open' THEN 'OPEN'
        WHEN line_kind = 'breaker_half_open' THEN 'HALF_OPEN'
        WHEN line_kind = 'breaker_closed' THEN 'CLOSED'
    END AS to_state,
    IF(is_structured, p_error_type, NULL) AS error_type,
    CASE
        WHEN is_structured THEN p_error
        WHEN line_kind = 'phase_error' THEN REGEXP_EXTRACT_ALL(text_line, r'failed: (.*)$')[SAFE_OFFSET(0)]
    END AS error,
    severity,
    COALESCE(p_message, text_line) AS message,
    duration_value AS duration_s,
    timeout_value AS timeout_s,
    utilization_value AS vpc_utilization,
    CAST(exit_code_value AS INT64) AS exit_code,
    IF(is_structured, 'structured', 'text') AS form,
    IF(event_name = 'breaker_summary', window_value, NULL) AS window_s,
    IF(event_name = 'breaker_summary', calls_value, NULL) AS calls,
    IF(event_name = 'breaker_summary', failures_value, NULL) AS failures,
    IF(event_name = 'breaker_summary', slow_calls_value, NULL) AS slow_calls,
    IF(event_name = 'breaker_summary', slow_threshold_value, NULL) AS slow_threshold_s,
    IF(event_name = 'breaker_summary', rejected_value, NULL) AS rejected,
    -- what the lake reads from `payload` for config_loads: the config a process loaded
    p_config_path AS config_path,
    p_generated_at AS generated_at,
    p_config_sha256 AS config_sha256,
    p_run_id AS run_id,
    -- what the lake reads from `payload` for breaker_summaries: where the VPC state came from
    CASE
        WHEN is_structured THEN p_vpc_state_source
        WHEN line_kind = 'summary'
            THEN REGEXP_EXTRACT_ALL(text_line, r'[( ]vpc_state_source=([^ )]+)')[SAFE_OFFSET(0)]
    END AS vpc_state_source,
    -- what the lake reads from `payload` for capacity: the VPC monitor's reading
    p_vpc_instances AS vpc_instances,
    p_vpc_max_instances AS vpc_max_instances,
    log_name
FROM kept
