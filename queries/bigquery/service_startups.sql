-- service_startups: the services of one env and how their startups ended, one row each.
-- Reads: startups. Parameters: @env.
-- Counts are COUNT(IF(c, 1, NULL)) rather than COUNTIF(c): the same numbers, in a form the
-- emulator the tests use also runs.
-- Returns: service ('unknown' where none was logged), startups, startups_completed,
--   startups_failed, startups_incomplete (no end seen); by service.
SELECT
    COALESCE(service, 'unknown') AS service,
    COUNT(*) AS startups,
    COUNT(IF(outcome = 'completed', 1, NULL)) AS startups_completed,
    COUNT(IF(outcome = 'failed', 1, NULL)) AS startups_failed,
    COUNT(IF(outcome = 'incomplete', 1, NULL)) AS startups_incomplete
FROM startups
WHERE env = @env
GROUP BY COALESCE(service, 'unknown')
ORDER BY service
