-- env_time_range: the first and last plausible event time of one env (NULLs when it has none).
-- Read from the segments directly: a repeated entry cannot move either end, so the
-- deduplication of `events` is not needed here. An event time before $earliest_ts, or more
-- than $future_slack after the entry was received or imported, is a broken clock (the import
-- quarantines such entries; a lake written before it did may hold some): it moves neither end.
-- The check compares epoch microseconds: a TIMESTAMPTZ plus an INTERVAL goes through the
-- calendar (two thirds of the query's time over a million rows); $future_slack has no months.
-- Parameters: $env, $earliest_ts, $future_slack. Returns one row: first_ts, last_ts.
SELECT min(ts) AS first_ts, max(ts) AS last_ts
FROM lake_rows
WHERE env = $env
  AND ts >= $earliest_ts
  AND epoch_us(ts) <= epoch_us(least(coalesce(receive_ts, ingested_at), ingested_at))
      + CAST(epoch($future_slack) * 1000000 AS BIGINT)
