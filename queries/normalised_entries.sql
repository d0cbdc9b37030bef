-- normalised_entries: every raw Cloud Logging entry, normalised to the lake's columns
-- (TELEMETRY.md §2-§4), with what the importer does with it.
-- Reads: entry_fields, one row per LogEntry (entry_fields_columns.sql or
--   entry_fields_objects.sql, as the importer chooses).
-- Parameters: $default_env (the --env of import/collect), $ingested_at (TIMESTAMPTZ),
--   $max_entry_bytes (named in the reason of an oversize entry; Cloud Logging itself refuses
--   entries over 256 KiB).
-- Returns: the columns of lake_schema.sql, plus
--   disposition: 'stored' (telemetry), 'skipped' (not telemetry) or 'quarantined' (malformed),
--   reason:      why an entry is quarantined (NULL otherwise),
--   entry_json:  the whole entry as text, for the quarantine (NULL unless quarantined).
--   A skipped entry's row holds its disposition only, every other column NULL.
WITH payload AS (
    -- One parse of the payload for all its fields (none of an oversize one): its strings as
    -- text, its numbers as JSON, so their types can be checked below.
    SELECT
        *,
        json_transform(CASE WHEN NOT oversize THEN p END, '{
            "event": "VARCHAR", "message": "VARCHAR", "env": "VARCHAR", "startup_id": "VARCHAR",
            "phase_name": "VARCHAR", "operation": "VARCHAR", "outcome": "VARCHAR",
            "vpc_state": "VARCHAR", "breaker_state": "VARCHAR", "from_state": "VARCHAR",
            "to_state": "VARCHAR", "error_type": "VARCHAR", "error": "VARCHAR",
            "phase": "JSON", "duration_s": "JSON", "timeout_s": "JSON",
            "vpc_utilization": "JSON", "exit_code": "JSON"
        }') AS pf
    FROM entry_fields
),
named AS (
    SELECT
        source_file, raw_entry, oversize, p, insert_id, ts_raw, receive_raw, severity_raw,
        log_name_raw, text_payload, service_raw, revision_raw, instance_raw,
        pf.event AS p_event, pf.message AS p_message, pf.startup_id AS p_startup_id,
        CASE WHEN pf.event IS NOT NULL THEN pf.env END AS payload_env,
        pf.phase_name AS p_phase_name, pf.operation AS p_operation, pf.outcome AS p_outcome,
        pf.vpc_state AS p_vpc_state, pf.breaker_state AS p_breaker_state,
        pf.from_state AS p_from_state, pf.to_state AS p_to_state,
        pf.error_type AS p_error_type, pf.error AS p_error,
        pf.phase AS p_phase, pf.duration_s AS p_duration, pf.timeout_s AS p_timeout,
        pf.vpc_utilization AS p_utilization, pf.exit_code AS p_exit_code,
        oversize OR pf.event IS NOT NULL AS is_structured,
        CASE WHEN NOT oversize
            THEN coalesce(text_payload, CASE WHEN pf.event IS NULL THEN pf.message END)
        END AS text_line
    FROM payload
),
-- The seed's text lines (TELEMETRY.md §3). Lines may carry a logger prefix, so nothing is anchored.
text_form AS (
    SELECT
        *,
        CASE
            WHEN is_structured OR text_line IS NULL THEN NULL
            -- Every line below holds one of these: most other lines end here, unmatched.
            WHEN NOT (contains(text_line, 'SMD ') OR contains(text_line, 'VPC connector')
                      OR contains(text_line, 'Database ')) THEN NULL
            WHEN regexp_matches(text_line, 'SMD startup sequence beginning') THEN 'startup_started'
            WHEN regexp_matches(text_line, 'SMD Phase \d+: .+ starting') THEN 'phase_started'
            WHEN regexp_matches(text_line, 'SMD Phase \d+ timeout calculation: .*final=[0-9.]+s') THEN 'timeout_calculated'
            WHEN regexp_matches(text_line, 'SMD Phase \d+ completed successfully in [0-9.]+s') THEN 'phase_completed'
            WHEN regexp_matches(text_line, 'SMD Phase \d+ .*timeout after [0-9.]+s') THEN 'phase_timeout'
            WHEN regexp_matches(text_line, 'SMD Phase \d+ .*failed: ') THEN 'phase_error'
            WHEN regexp_matches(text_line, 'VPC connector state: \S+, Circuit breaker: \S+') THEN 'phase_context'
            WHEN regexp_matches(text_line, 'VPC connector capacity state changed: \S+ -> \S+') THEN 'vpc_state_changed'
            WHEN regexp_matches(text_line, 'Database circuit breaker: Opening circuit') THEN 'breaker_open'
            WHEN regexp_matches(text_line, 'Database circuit breaker: Attempting half-open') THEN 'breaker_half_open'
            WHEN regexp_matches(text_line, 'Database circuit breaker: Success recorded, closing circuit') THEN 'breaker_closed'
            WHEN regexp_matches(text_line, 'Database fallback applied') THEN 'degradation_applied'
            WHEN regexp_matches(text_line, 'SMD startup sequence completed') THEN 'startup_completed'
            WHEN regexp_matches(text_line, 'SMD startup failed: container exit code \d+') THEN 'startup_failed'
        END AS line_kind
    FROM named
),
fields AS (
    SELECT
        *,
        CASE
            WHEN is_structured THEN p_event
            WHEN line_kind IN ('phase_timeout', 'phase_error') THEN 'phase_failed'
            WHEN line_kind LIKE 'breaker_%' THEN 'breaker_transition'
            ELSE line_kind
        END AS event_name,
        json_type(p_phase) AS phase_type,
        json_type(p_duration) AS duration_type,
        json_type(p_timeout) AS timeout_type,
        json_type(p_utilization) AS utilization_type,
        json_type(p_exit_code) AS exit_code_type,
        try_cast(ts_raw AS TIMESTAMPTZ) AS ts_parsed
    FROM text_form
),
-- A payload number is cast from its JSON text, which costs less than a JSON cast. The two
-- casts differ only for a string or a boolean, which the type checks in `judged` refuse first.
typed AS (
    SELECT
        *,
        CASE
            WHEN is_structured THEN try_cast(p_phase::VARCHAR AS BIGINT)
            ELSE try_cast(regexp_extract(text_line, 'SMD Phase (\d+)', 1) AS BIGINT)
        END AS phase_value,
        CASE
            WHEN is_structured THEN try_cast(p_duration::VARCHAR AS DOUBLE)
            WHEN line_kind = 'phase_completed'
                THEN try_cast(regexp_extract(text_line, 'completed successfully in ([0-9.]+)s', 1) AS DOUBLE)
            WHEN line_kind = 'phase_timeout'
                THEN try_cast(regexp_extract(text_line, 'timeout after ([0-9.]+)s', 1) AS DOUBLE)
        END AS duration_value,
        CASE
            WHEN is_structured THEN try_cast(p_timeout::VARCHAR AS DOUBLE)
            WHEN line_kind = 'timeout_calculated'
                THEN try_cast(regexp_extract(text_line, 'final=([0-9.]+)s', 1) AS DOUBLE)
            WHEN line_kind = 'phase_timeout'
                THEN try_cast(regexp_extract(text_line, 'timeout after ([0-9.]+)s', 1) AS DOUBLE)
        END AS timeout_value,
        CASE
            WHEN is_structured THEN try_cast(p_utilization::VARCHAR AS DOUBLE)
            WHEN line_kind = 'vpc_state_changed'
                THEN try_cast(regexp_extract(text_line, 'utilization=([0-9.]+)', 1) AS DOUBLE)
        END AS utilization_value
    FROM fields
),
judged AS (
    SELECT
        *,
        CASE
            WHEN oversize THEN 'payload larger than ' || $max_entry_bytes || ' bytes'
            WHEN insert_id IS NULL OR insert_id = '' THEN 'missing insertId'
            WHEN ts_raw IS NULL THEN 'missing timestamp'
            WHEN ts_parsed IS NULL THEN 'unparseable timestamp: ' || ts_raw
            WHEN NOT (suffix(ts_raw, 'Z') OR regexp_matches(ts_raw, '(Z|z|[+-]\d\d:?\d\d)$'))
                THEN 'timestamp without time zone: ' || ts_raw
            WHEN NOT is_structured THEN NULL
            WHEN event_name NOT IN (
                'startup_started', 'phase_started', 'timeout_calculated', 'phase_completed',
                'phase_failed', 'phase_context', 'degradation_applied', 'breaker_transition',
                'vpc_state_changed', 'startup_completed', 'startup_failed', 'config_loaded',
                'breaker_summary')
                THEN 'unknown event: ' || event_name
            WHEN payload_env IS NOT NULL AND payload_env <> $default_env
                 AND NOT regexp_matches(payload_env, '^[A-Za-z0-9_.-]{1,64}$')
                THEN 'invalid env: ' || payload_env
            WHEN phase_type IS NOT NULL AND phase_type NOT IN ('NULL', 'UBIGINT', 'BIGINT')
                THEN 'phase is not an integer'
            WHEN phase_value < 1 THEN 'phase must be at least 1'
            WHEN phase_value > 1000 THEN 'phase is implausibly large'
            WHEN phase_value IS NULL
                 AND event_name IN ('phase_started', 'timeout_calculated', 'phase_completed', 'phase_failed')
                THEN event_name || ' without phase'
            WHEN duration_type IS NOT NULL AND duration_type NOT IN ('NULL', 'UBIGINT', 'BIGINT', 'DOUBLE')
                THEN 'duration_s is not a number'
            WHEN NOT isfinite(duration_value) THEN 'duration_s is not finite'
            WHEN duration_value < 0 THEN 'negative duration_s'
            WHEN duration_value > 86400 THEN 'duration_s is implausibly large (over a day)'
            WHEN duration_value IS NULL AND event_name IN ('phase_completed', 'phase_failed')
                THEN event_name || ' without duration_s'
            WHEN timeout_type IS NOT NULL AND timeout_type NOT IN ('NULL', 'UBIGINT', 'BIGINT', 'DOUBLE')
                THEN 'timeout_s is not a number'
            WHEN NOT isfinite(timeout_value) THEN 'timeout_s is not finite'
            WHEN timeout_value <= 0 THEN 'timeout_s must be positive'
            WHEN timeout_value > 86400 THEN 'timeout_s is implausibly large (over a day)'
            WHEN event_name = 'phase_failed' AND coalesce(p_outcome, '') NOT IN ('timeout', 'error')
                THEN 'phase_failed outcome must be timeout or error'
            WHEN utilization_type IS NOT NULL AND utilization_type NOT IN ('NULL', 'UBIGINT', 'BIGINT', 'DOUBLE')
                THEN 'vpc_utilization is not a number'
            WHEN NOT (utilization_value BETWEEN 0 AND 1) THEN 'vpc_utilization outside 0..1'
            WHEN exit_code_type IS NOT NULL AND exit_code_type NOT IN ('NULL', 'UBIGINT', 'BIGINT')
                THEN 'exit_code is not an integer'
            WHEN try_cast(p_exit_code::VARCHAR AS INTEGER) IS NULL AND exit_code_type IN ('UBIGINT', 'BIGINT')
                THEN 'exit_code out of range'
        END AS reason,
        CASE
            WHEN is_structured THEN 'structured'
            WHEN line_kind IS NOT NULL THEN 'text'
        END AS form_value
    FROM typed
),
entries AS (
    SELECT
        insert_id,
        ts_parsed AS ts,
        try_cast(receive_raw AS TIMESTAMPTZ) AS receive_ts,
        coalesce(payload_env, $default_env) AS env,
        service_raw AS service,
        revision_raw AS revision,
        instance_raw AS instance_id,
        coalesce(p_startup_id, instance_raw) AS startup_id,
        event_name AS event,
        CASE WHEN reason IS NULL THEN phase_value::INTEGER END AS phase,
        CASE
            WHEN is_structured THEN p_phase_name
            WHEN line_kind = 'phase_started'
                THEN lower(regexp_extract(text_line, 'SMD Phase \d+: (\S+)', 1))
        END AS phase_name,
        CASE
            WHEN is_structured THEN coalesce(
                p_operation,
                CASE WHEN event_name IN ('phase_started', 'timeout_calculated', 'phase_completed', 'phase_failed')
                     THEN 'initialization' END)
            WHEN line_kind IN ('phase_started', 'timeout_calculated', 'phase_completed', 'phase_timeout', 'phase_error')
                THEN 'initialization'
        END AS operation,
        CASE
            WHEN is_structured THEN p_outcome
            WHEN line_kind = 'phase_timeout' THEN 'timeout'
            WHEN line_kind = 'phase_error' THEN 'error'
        END AS outcome,
        CASE
            WHEN is_structured THEN coalesce(p_vpc_state,
                CASE WHEN event_name = 'vpc_state_changed' THEN p_to_state END)
            WHEN line_kind = 'phase_context' THEN regexp_extract(text_line, 'VPC connector state: ([^,\s]+)', 1)
            WHEN line_kind = 'vpc_state_changed' THEN regexp_extract(text_line, ' -> (\S+)', 1)
        END AS vpc_state,
        CASE
            WHEN is_structured THEN p_breaker_state
            WHEN line_kind = 'phase_context' THEN regexp_extract(text_line, 'Circuit breaker: (\S+)', 1)
        END AS breaker_state,
        CASE
            WHEN is_structured THEN p_from_state
            WHEN line_kind = 'vpc_state_changed' THEN regexp_extract(text_line, 'state changed: (\S+) ->', 1)
        END AS from_state,
        CASE
            WHEN is_structured THEN p_to_state
            WHEN line_kind = 'vpc_state_changed' THEN regexp_extract(text_line, ' -> (\S+)', 1)
            WHEN line_kind = 'breaker_open' THEN 'OPEN'
            WHEN line_kind = 'breaker_half_open' THEN 'HALF_OPEN'
            WHEN line_kind = 'breaker_closed' THEN 'CLOSED'
        END AS to_state,
        CASE WHEN is_structured THEN p_error_type END AS error_type,
        CASE
            WHEN is_structured THEN p_error
            WHEN line_kind = 'phase_error' THEN regexp_extract(text_line, 'failed: (.*)$', 1)
        END AS error,
        severity_raw AS severity,
        coalesce(p_message, text_line) AS message,
        CASE WHEN reason IS NULL THEN duration_value END AS duration_s,
        CASE WHEN reason IS NULL THEN timeout_value END AS timeout_s,
        CASE WHEN reason IS NULL THEN utilization_value END AS vpc_utilization,
        CASE
            WHEN reason IS NOT NULL THEN NULL
            WHEN is_structured THEN try_cast(p_exit_code::VARCHAR AS INTEGER)
            WHEN line_kind = 'startup_failed'
                THEN try_cast(regexp_extract(text_line, 'container exit code (\d+)', 1) AS INTEGER)
        END AS exit_code,
        form_value AS form,
        log_name_raw AS log_name,
        coalesce(p, to_json(text_payload))::VARCHAR AS payload,
        source_file,
        $ingested_at::TIMESTAMPTZ AS ingested_at,
        CAST(ts_parsed AS DATE) AS date,
        CASE
            WHEN form_value IS NULL THEN 'skipped'
            WHEN reason IS NOT NULL THEN 'quarantined'
            ELSE 'stored'
        END AS disposition,
        reason,
        CASE WHEN form_value IS NOT NULL AND reason IS NOT NULL THEN raw_entry::VARCHAR END AS entry_json
    FROM judged
)
-- An entry that is not telemetry is only counted: none of its columns is kept.
SELECT CASE WHEN disposition <> 'skipped' THEN COLUMNS(* EXCLUDE (disposition)) END, disposition
FROM entries
