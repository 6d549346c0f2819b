-- IPv6 health per sensor, service and IP version: connection attempts, successes, success
-- rate, fallbacks to IPv4 by kind (on the IPv6 rows), and the connect time (SYN to SYN-ACK)
-- of successful attempts at the 50th and 90th percentile, by nearest rank as v6watch computes
-- them (the value at rank ceil(q * n)).
WITH ok AS (
    SELECT sensor, service, server_port, family, connect_s,
           ROW_NUMBER() OVER (PARTITION BY sensor, service, server_port, family ORDER BY connect_s) AS rn,
           COUNT(*) OVER (PARTITION BY sensor, service, server_port, family) AS n
    FROM attempts
    WHERE outcome = 'established' AND connect_s IS NOT NULL
),
quantiles AS (
    SELECT sensor, service, server_port, family,
           MIN(CASE WHEN rn = CAST(CEIL(CAST(0.5 AS DOUBLE) * n) AS BIGINT) THEN connect_s END) AS connect_p50_s,
           MIN(CASE WHEN rn = CAST(CEIL(CAST(0.9 AS DOUBLE) * n) AS BIGINT) THEN connect_s END) AS connect_p90_s
    FROM ok
    GROUP BY sensor, service, server_port, family
),
counts AS (
    SELECT sensor, service, server_port, family,
           COUNT(*) AS attempts,
           SUM(CASE WHEN outcome = 'established' THEN 1 ELSE 0 END) AS successes,
           SUM(CASE WHEN fallback = 'he_fast' THEN 1 ELSE 0 END) AS fallbacks_he_fast,
           SUM(CASE WHEN fallback = 'error_triggered' THEN 1 ELSE 0 END) AS fallbacks_error_triggered,
           SUM(CASE WHEN fallback = 'timeout_slow' THEN 1 ELSE 0 END) AS fallbacks_timeout_slow,
           SUM(CASE WHEN fallback = 'race_lost' THEN 1 ELSE 0 END) AS fallbacks_race_lost
    FROM attempts
    GROUP BY sensor, service, server_port, family
)
SELECT c.sensor,
       c.service,
       c.server_port AS port,
       c.family,
       c.attempts,
       c.successes,
       CAST(c.successes AS DOUBLE) / CAST(c.attempts AS DOUBLE) AS success_rate,
       c.fallbacks_he_fast,
       c.fallbacks_error_triggered,
       c.fallbacks_timeout_slow,
       c.fallbacks_race_lost,
       q.connect_p50_s,
       q.connect_p90_s
FROM counts c
LEFT JOIN quantiles q
    ON q.sensor = c.sensor AND q.service = c.service AND q.server_port = c.server_port AND q.family = c.family
ORDER BY c.sensor, c.service, c.server_port, c.family
