-- Traffic per sensor, IP version, direction and hour: IP bytes, packets and flows.
-- A flow's bytes count in the hour it started (v6watch's own timeline spreads them over the
-- flow's duration; per sensor, family and direction the totals are the same). Direction is
-- the sensor's: `out` what it sent, `in` what it received, `local` and `transit` otherwise.
WITH sides AS (
    SELECT sensor,
           ip_version AS family,
           CASE role WHEN 'outbound' THEN 'out' WHEN 'inbound' THEN 'in' ELSE role END AS direction,
           date_trunc('hour', ts) AS hour,
           orig_ip_bytes AS bytes,
           orig_pkts AS packets
    FROM flows
    UNION ALL
    SELECT sensor,
           ip_version AS family,
           CASE role WHEN 'outbound' THEN 'in' WHEN 'inbound' THEN 'out' ELSE role END AS direction,
           date_trunc('hour', ts) AS hour,
           resp_ip_bytes AS bytes,
           resp_pkts AS packets
    FROM flows
)
SELECT sensor,
       family,
       direction,
       hour,
       SUM(bytes) AS bytes,
       SUM(packets) AS packets,
       COUNT(*) AS flows
FROM sides
WHERE packets > 0
GROUP BY sensor, family, direction, hour
ORDER BY sensor, family, direction, hour
