-- env_mix: what envs a source's telemetry in the scan belongs to, by form and service: a sink
-- table may hold several envs' entries, and a text line says no env. The engine refuses to
-- count text lines as the env asked where entries name envs beside them, unless @env_services
-- names the env's services (then a line of another service is no env's: NULL here).
-- Reads: events. Parameters: @default_env, @env_services (through lake_rows).
-- Returns: env, form ('structured' | 'text'), service, entries.
SELECT env, form, service, COUNT(*) AS entries
FROM events
GROUP BY env, form, service
