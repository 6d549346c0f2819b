-- Services that moved to IPv6, and back: per sensor and named service, the first successful
-- IPv4 connection, the first successful IPv6 connection after it (when the service moved:
-- v6watch's service_switched_to_v6), the last successful connection of each family, and
-- whether the service was last reached over IPv4 after having moved (`back_to_v4`).
-- Attempts are ordered by time, then uid, as v6watch orders them.
WITH ok AS (
    SELECT sensor, service, server_port, family, ts, uid
    FROM attempts
    WHERE outcome = 'established' AND service NOT LIKE '[%'
),
first_v4 AS (
    SELECT sensor, service, server_port, ts, uid
    FROM (
        SELECT sensor, service, server_port, ts, uid,
               ROW_NUMBER() OVER (PARTITION BY sensor, service, server_port ORDER BY ts, uid) AS rn
        FROM ok
        WHERE family = 4
    ) f
    WHERE rn = 1
),
moved AS (
    SELECT o.sensor, o.service, o.server_port, MIN(o.ts) AS moved_ts
    FROM ok o
    JOIN first_v4 f ON f.sensor = o.sensor AND f.service = o.service AND f.server_port = o.server_port
    WHERE o.family = 6 AND (o.ts > f.ts OR (o.ts = f.ts AND o.uid > f.uid))
    GROUP BY o.sensor, o.service, o.server_port
),
last_ok AS (
    SELECT sensor, service, server_port,
           MAX(CASE WHEN family = 4 THEN ts END) AS last_v4_ts,
           MAX(CASE WHEN family = 6 THEN ts END) AS last_v6_ts
    FROM ok
    GROUP BY sensor, service, server_port
)
SELECT m.sensor,
       m.service,
       m.server_port AS port,
       f.ts AS first_v4_ts,
       m.moved_ts,
       l.last_v6_ts,
       l.last_v4_ts,
       CASE WHEN l.last_v4_ts > l.last_v6_ts THEN TRUE ELSE FALSE END AS back_to_v4
FROM moved m
JOIN first_v4 f ON f.sensor = m.sensor AND f.service = m.service AND f.server_port = m.server_port
JOIN last_ok l ON l.sensor = m.sensor AND l.service = m.service AND l.server_port = m.server_port
ORDER BY m.sensor, m.moved_ts, m.service, m.server_port
