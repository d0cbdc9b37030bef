-- normalised_entries: every raw Cloud Logging entry, normalised to the lake's columns
-- (docs/telemetry.md §2-§4), with what the importer does with it.
-- Reads: entry_fields, one row per LogEntry (entry_fields_columns.sql or
--   entry_fields_objects.sql, as the importer chooses).
-- Parameters: $default_env (the --env of import/collect), $ingested_at (TIMESTAMPTZ),
--   $max_entry_bytes (named in the reason of an oversize entry; Cloud Logging itself refuses
--   entries over 256 KiB), $events (the contract's event names, analyzer.runtime EVENTS: an
--   `event` outside them is another application's, not telemetry), $env_pattern and
--   $refused_env_pattern (a payload's env matches the first and not the second; one that is
--   $default_env but for its case is $default_env), $config_outcomes (a config_loaded
--   event's known outcomes, analyzer.runtime CONFIG_OUTCOMES), $earliest_ts and $future_slack (an entry's time is plausible from
--   $earliest_ts to $future_slack after it was received and after $ingested_at),
--   $not_an_entry (the reason given a JSON value that is not a log entry at all).
-- Returns: the columns of lake_schema.sql, plus
--   disposition: 'stored' (telemetry), 'skipped' (not telemetry) or 'quarantined' (malformed
--                telemetry, or a JSON value that is not a log entry at all),
--   reason:      why an entry is quarantined or skipped (NULL when stored),
--   entry_json:  the whole entry as text, for the quarantine (NULL unless quarantined).
--   A skipped entry's row holds its disposition and reason only, every other column NULL.
--   A breaker_summary's counts are checked (whole non-negative numbers, failures and slow calls
--   at most the calls, at most 10,000 calls a second of window_s, ...); a text-form summary's payload gets its fields, as the structured
--   form's has them, so one JSON path reads both.
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
            "vpc_utilization": "JSON", "exit_code": "JSON",
            "window_s": "JSON", "calls": "JSON", "failures": "JSON", "slow_calls": "JSON",
            "slow_threshold_s": "JSON", "rejected": "JSON"
        }') AS pf
    FROM entry_fields
),
known AS (
    SELECT *, coalesce(list_contains($events, pf.event), false) AS is_contract_event
    FROM payload
),
named AS (
    SELECT
        source_file, raw_entry, is_entry, oversize, p, insert_id, ts_raw, receive_raw, severity_raw,
        log_name_raw, text_payload, service_raw, revision_raw, instance_raw,
        pf.event AS p_event, pf.message AS p_message, pf.startup_id AS p_startup_id,
        -- an env is matched whatever its case, as the runtime matches it: `Staging` is --env staging's
        CASE WHEN is_contract_event THEN
            CASE WHEN lower(pf.env) = lower($default_env) THEN $default_env ELSE pf.env END
        END AS payload_env,
        pf.phase_name AS p_phase_name, pf.operation AS p_operation, pf.outcome AS p_outcome,
        pf.vpc_state AS p_vpc_state, pf.breaker_state AS p_breaker_state,
        pf.from_state AS p_from_state, pf.to_state AS p_to_state,
        pf.error_type AS p_error_type, pf.error AS p_error,
        pf.phase AS p_phase, pf.duration_s AS p_duration, pf.timeout_s AS p_timeout,
        pf.vpc_utilization AS p_utilization, pf.exit_code AS p_exit_code,
        pf.window_s AS p_window_s, pf.calls AS p_calls, pf.failures AS p_failures,
        pf.slow_calls AS p_slow_calls, pf.slow_threshold_s AS p_slow_threshold_s,
        pf.rejected AS p_rejected,
        oversize OR is_contract_event AS is_structured,
        -- Not telemetry by its event: its text may still be a seed line (structlog's `event`
        -- is the message itself).
        CASE WHEN NOT (oversize OR is_contract_event)
            THEN coalesce(text_payload, pf.message, pf.event)
        END AS text_line
    FROM known
),
-- The seed's text lines (docs/telemetry.md §3). Lines may carry a logger prefix, so nothing is anchored.
text_form AS (
    SELECT
        *,
        CASE
            WHEN is_structured OR text_line IS NULL THEN NULL
            -- Every line below holds one of these: most other lines end here, unmatched.
            WHEN NOT (contains(text_line, 'SMD ') OR contains(text_line, 'VPC connector')
                      OR contains(text_line, 'Database ')
                      OR contains(text_line, 'Circuit breaker summary: ')) THEN NULL
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
            WHEN regexp_matches(text_line, 'Circuit breaker summary: \d+ calls, \d+ failures, state \S+') THEN 'summary'
        END AS line_kind
    FROM named
),
fields AS (
    SELECT
        *,
        CASE
            WHEN is_structured THEN p_event
            WHEN line_kind IN ('phase_timeout', 'phase_error') THEN 'phase_failed'
            WHEN line_kind = 'summary' THEN 'breaker_summary'
            WHEN line_kind LIKE 'breaker_%' THEN 'breaker_transition'
            ELSE line_kind
        END AS event_name,
        json_type(p_phase) AS phase_type,
        json_type(p_duration) AS duration_type,
        json_type(p_timeout) AS timeout_type,
        json_type(p_utilization) AS utilization_type,
        json_type(p_exit_code) AS exit_code_type,
        -- RFC 3339 allows a lower-case `t` and `z`, which DuckDB's cast refuses.
        try_cast(CASE WHEN contains(ts_raw, 'z') OR contains(ts_raw, 't') THEN upper(ts_raw)
                      ELSE ts_raw END AS TIMESTAMPTZ) AS ts_parsed,
        try_cast(receive_raw AS TIMESTAMPTZ) AS receive_ts
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
-- breaker_summary's fields (docs/telemetry.md v1.1): each as its text (the JSON number, or what
-- the text line says after `name=`; NULL when absent) and its kind, to be checked below.
summary_raw AS (
    SELECT
        *,
        CASE WHEN event_name IS DISTINCT FROM 'breaker_summary' THEN NULL
             WHEN is_structured THEN CASE WHEN json_type(p_window_s) <> 'NULL' THEN p_window_s::VARCHAR END
             WHEN line_kind = 'summary' THEN nullif(regexp_extract(text_line, '[( ]window_s=([^ )]+)', 1), '')
        END AS window_raw,
        CASE WHEN event_name IS DISTINCT FROM 'breaker_summary' THEN NULL
             WHEN is_structured THEN CASE WHEN json_type(p_calls) <> 'NULL' THEN p_calls::VARCHAR END
             WHEN line_kind = 'summary' THEN regexp_extract(text_line, 'summary: (\d+) calls', 1)
        END AS calls_raw,
        CASE WHEN event_name IS DISTINCT FROM 'breaker_summary' THEN NULL
             WHEN is_structured THEN CASE WHEN json_type(p_failures) <> 'NULL' THEN p_failures::VARCHAR END
             WHEN line_kind = 'summary' THEN regexp_extract(text_line, ' (\d+) failures, state', 1)
        END AS failures_raw,
        CASE WHEN event_name IS DISTINCT FROM 'breaker_summary' THEN NULL
             WHEN is_structured THEN CASE WHEN json_type(p_slow_calls) <> 'NULL' THEN p_slow_calls::VARCHAR END
             WHEN line_kind = 'summary' THEN nullif(regexp_extract(text_line, '[( ]slow_calls=([^ )]+)', 1), '')
        END AS slow_calls_raw,
        CASE WHEN event_name IS DISTINCT FROM 'breaker_summary' THEN NULL
             WHEN is_structured THEN CASE WHEN json_type(p_slow_threshold_s) <> 'NULL' THEN p_slow_threshold_s::VARCHAR END
             WHEN line_kind = 'summary' THEN nullif(regexp_extract(text_line, '[( ]slow_threshold_s=([^ )]+)', 1), '')
        END AS slow_threshold_raw,
        CASE WHEN event_name IS DISTINCT FROM 'breaker_summary' THEN NULL
             WHEN is_structured THEN CASE WHEN json_type(p_rejected) <> 'NULL' THEN p_rejected::VARCHAR END
             WHEN line_kind = 'summary' THEN nullif(regexp_extract(text_line, '[( ]rejected=([^ )]+)', 1), '')
        END AS rejected_raw
    FROM typed
),
summary_typed AS (
    SELECT
        *,
        -- a JSON number's type, or the text's shape: 'integer', 'number', else 'other' (NULL: absent)
        CASE WHEN event_name = 'breaker_summary' THEN list_transform(
            [window_raw, calls_raw, failures_raw, slow_calls_raw, slow_threshold_raw, rejected_raw],
            lambda raw: CASE WHEN raw IS NULL THEN NULL
                        WHEN regexp_full_match(raw, '-?\d+') THEN 'integer'
                        WHEN try_cast(raw AS DOUBLE) IS NOT NULL THEN 'number'
                        ELSE 'other' END
        ) END AS summary_kinds,
        try_cast(window_raw AS DOUBLE) AS window_value,
        try_cast(calls_raw AS BIGINT) AS calls_value,
        try_cast(failures_raw AS BIGINT) AS failures_value,
        try_cast(slow_calls_raw AS BIGINT) AS slow_calls_value,
        try_cast(slow_threshold_raw AS DOUBLE) AS slow_threshold_value,
        try_cast(rejected_raw AS BIGINT) AS rejected_value,
        CASE WHEN is_structured THEN p_breaker_state
             WHEN line_kind = 'summary' THEN regexp_extract(text_line, 'failures, state (\S+)', 1)
        END AS summary_state
    FROM summary_raw
),
summary_checked AS (
    SELECT
        *,
        CASE
            WHEN event_name IS DISTINCT FROM 'breaker_summary' THEN NULL
            WHEN window_raw IS NULL THEN 'breaker_summary without window_s'
            WHEN summary_kinds[1] = 'other' THEN 'window_s is not a number'
            WHEN NOT isfinite(window_value) THEN 'window_s is not finite'
            WHEN window_value < 0 THEN 'negative window_s'
            WHEN window_value > 31 * 86400 THEN 'window_s is implausibly large (over 31 days)'
            WHEN calls_raw IS NULL THEN 'breaker_summary without calls'
            WHEN failures_raw IS NULL THEN 'breaker_summary without failures'
            WHEN summary_kinds[2] <> 'integer' THEN 'calls is not an integer'
            WHEN summary_kinds[3] <> 'integer' THEN 'failures is not an integer'
            WHEN summary_kinds[4] <> 'integer' THEN 'slow_calls is not an integer'
            WHEN summary_kinds[6] <> 'integer' THEN 'rejected is not an integer'
            WHEN calls_value IS NULL OR failures_value IS NULL
                 OR (slow_calls_raw IS NOT NULL AND slow_calls_value IS NULL)
                 OR (rejected_raw IS NOT NULL AND rejected_value IS NULL)
                THEN 'a breaker_summary count is out of range'
            WHEN least(calls_value, failures_value, slow_calls_value, rejected_value) < 0
                THEN 'negative breaker_summary count'
            WHEN failures_value > calls_value THEN 'failures exceed calls'
            WHEN slow_calls_value > calls_value THEN 'slow_calls exceed calls'
            -- one process's breaker: at most 10,000 calls a second of its window (1,000
            -- concurrent requests of 10 database calls a second each); more is no process's
            -- summary (calls = 2^63-1 in 60 s, window_s = 1e-300) and would rewrite the advice
            WHEN calls_value > 10000 * window_value
                THEN 'calls implausible for one process (over 10,000 a second of window_s)'
            WHEN summary_kinds[5] = 'other' THEN 'slow_threshold_s is not a number'
            WHEN NOT isfinite(slow_threshold_value) THEN 'slow_threshold_s is not finite'
            WHEN slow_threshold_value <= 0 THEN 'slow_threshold_s must be positive'
            WHEN summary_state NOT IN ('CLOSED', 'OPEN', 'HALF_OPEN')
                THEN 'breaker_state must be CLOSED, OPEN or HALF_OPEN'
        END AS summary_reason
    FROM summary_typed
),
checked_time AS (
    SELECT
        *,
        CASE
            WHEN NOT is_entry THEN $not_an_entry
            WHEN oversize THEN 'payload larger than ' || $max_entry_bytes || ' bytes'
            WHEN insert_id IS NULL OR insert_id = '' THEN 'missing insertId'
            WHEN ts_raw IS NULL THEN 'missing timestamp'
            WHEN ts_parsed IS NULL THEN 'unparseable timestamp: ' || ts_raw
            WHEN suffix(ts_raw, 'Z') OR suffix(ts_raw, 'z') THEN NULL  -- the usual case: go on below
            WHEN NOT regexp_matches(ts_raw, '[+-]\d\d:?\d\d$')
                THEN 'timestamp without time zone: ' || ts_raw
            WHEN NOT regexp_matches(ts_raw, '[+-]([01]\d|2[0-3]):?[0-5]\d$')
                THEN 'timestamp with an invalid zone offset: ' || ts_raw
        END AS ts_reason
    FROM summary_checked
),
judged AS (
    SELECT
        *,
        CASE
            WHEN ts_reason IS NOT NULL THEN ts_reason
            WHEN ts_parsed < $earliest_ts
                THEN 'timestamp implausibly early (before ' || $earliest_ts::DATE || '): ' || ts_raw
            WHEN ts_parsed > $ingested_at + $future_slack OR ts_parsed > receive_ts + $future_slack
                THEN 'timestamp implausibly late (over ' || $future_slack::VARCHAR || ' after it was received or imported): ' || ts_raw
            WHEN summary_reason IS NOT NULL THEN summary_reason
            WHEN NOT is_structured THEN NULL
            WHEN payload_env IS NOT NULL AND payload_env <> $default_env
                 AND NOT (regexp_full_match(payload_env, $env_pattern)
                          AND NOT regexp_full_match(payload_env, $refused_env_pattern))
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
            WHEN event_name = 'config_loaded' AND NOT coalesce(list_contains($config_outcomes, p_outcome), false)
                THEN 'config_loaded outcome must be one of ' || array_to_string($config_outcomes, ', ')
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
    FROM checked_time
),
entries AS (
    SELECT
        insert_id,
        ts_parsed AS ts,
        receive_ts,
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
            WHEN line_kind = 'summary' THEN nullif(regexp_extract(text_line, '[( ]operation=([^ )]+)', 1), '')
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
            WHEN line_kind = 'summary' THEN nullif(regexp_extract(text_line, '[( ]vpc_state=([^ )]+)', 1), '')
        END AS vpc_state,
        CASE
            WHEN is_structured THEN p_breaker_state
            WHEN line_kind = 'phase_context' THEN regexp_extract(text_line, 'Circuit breaker: (\S+)', 1)
            WHEN line_kind = 'summary' THEN summary_state
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
            -- The error's text to the line's end, a trailing newline left out.
            WHEN line_kind = 'phase_error'
                THEN rtrim(regexp_extract(text_line, '(?s)failed: (.*)', 1), chr(13) || chr(10))
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
        CASE
            -- a text summary's fields in the payload, as the structured form has them, beside
            -- the payload it came in (its line stays in `message`)
            WHEN line_kind = 'summary' AND reason IS NULL THEN json_merge_patch(
                coalesce(p, json_object('message', text_payload)),
                json_object(
                    'event', 'breaker_summary', 'window_s', window_value, 'calls', calls_value,
                    'failures', failures_value, 'slow_calls', slow_calls_value,
                    'slow_threshold_s', slow_threshold_value, 'rejected', rejected_value,
                    'breaker_state', summary_state,
                    'vpc_state', nullif(regexp_extract(text_line, '[( ]vpc_state=([^ )]+)', 1), ''),
                    'operation', nullif(regexp_extract(text_line, '[( ]operation=([^ )]+)', 1), ''),
                    'vpc_state_source',
                    nullif(regexp_extract(text_line, '[( ]vpc_state_source=([^ )]+)', 1), '')
                ))
            ELSE coalesce(p, to_json(text_payload))
        END::VARCHAR AS payload,
        source_file,
        $ingested_at::TIMESTAMPTZ AS ingested_at,
        CAST(ts_parsed AS DATE) AS date,
        CASE
            WHEN NOT is_entry THEN 'quarantined'
            WHEN form_value IS NULL THEN 'skipped'
            WHEN reason IS NOT NULL THEN 'quarantined'
            ELSE 'stored'
        END AS disposition,
        CASE
            WHEN NOT is_entry OR form_value IS NOT NULL THEN reason
            WHEN p_event IS NOT NULL THEN 'event not named in the telemetry contract'
            ELSE 'no telemetry event or text line'
        END AS reason,
        CASE WHEN (form_value IS NOT NULL OR NOT is_entry) AND reason IS NOT NULL
            THEN raw_entry::VARCHAR END AS entry_json
    FROM judged
)
-- An entry that is not telemetry is only counted, by reason: none of its columns is kept.
SELECT CASE WHEN disposition <> 'skipped' THEN COLUMNS(* EXCLUDE (disposition, reason)) END,
    disposition, reason
FROM entries
