-- service_startups: the services of one env and how their startups ended, one row each.
-- Parameters: $env.
-- Returns: service ('unknown' where none was logged), startups, startups_completed,
--   startups_failed, startups_incomplete (no end seen); by service.
SELECT
    coalesce(service, 'unknown') AS service,
    count(*) AS startups,
    count(*) FILTER (WHERE outcome = 'completed') AS startups_completed,
    count(*) FILTER (WHERE outcome = 'failed') AS startups_failed,
    count(*) FILTER (WHERE outcome = 'incomplete') AS startups_incomplete
FROM startups
WHERE env = $env
GROUP BY coalesce(service, 'unknown')
ORDER BY service
