-- The remote peers that exchanged the most bytes with each sensor (IP bytes both ways, the
-- sensor's own flows: outbound and inbound), with the name most of their flows carried
-- (ties: the first in alphabetical order) and how many flows carried it. 25 per sensor.
WITH f AS (
    SELECT sensor,
           CASE WHEN role = 'outbound' THEN id_resp_h ELSE id_orig_h END AS peer,
           ip_version AS family,
           CASE WHEN role = 'outbound' THEN orig_ip_bytes ELSE resp_ip_bytes END AS bytes_out,
           CASE WHEN role = 'outbound' THEN resp_ip_bytes ELSE orig_ip_bytes END AS bytes_in,
           server_name
    FROM flows
    WHERE role IN ('outbound', 'inbound')
),
totals AS (
    SELECT sensor, peer, family,
           SUM(bytes_out) AS bytes_out,
           SUM(bytes_in) AS bytes_in,
           SUM(bytes_out) + SUM(bytes_in) AS bytes,
           COUNT(*) AS flows
    FROM f
    GROUP BY sensor, peer, family
),
names AS (
    SELECT sensor, peer, server_name AS name, flows
    FROM (
        SELECT sensor, peer, server_name, COUNT(*) AS flows,
               ROW_NUMBER() OVER (PARTITION BY sensor, peer ORDER BY COUNT(*) DESC, server_name) AS rn
        FROM f
        WHERE server_name IS NOT NULL
        GROUP BY sensor, peer, server_name
    ) n
    WHERE rn = 1
),
ranked AS (
    SELECT t.sensor, t.peer, t.family, t.bytes, t.bytes_out, t.bytes_in, t.flows,
           n.name, n.flows AS name_flows,
           ROW_NUMBER() OVER (PARTITION BY t.sensor ORDER BY t.bytes DESC, t.peer) AS rank
    FROM totals t
    LEFT JOIN names n ON n.sensor = t.sensor AND n.peer = t.peer
)
SELECT sensor, rank, peer, family, bytes, bytes_out, bytes_in, flows, name, name_flows
FROM ranked
WHERE rank <= 25
ORDER BY sensor, rank
