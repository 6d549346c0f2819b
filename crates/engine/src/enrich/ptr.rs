//! Reverse DNS (`--resolve-ptr`): the one feature that sends packets, so it only runs when the
//! user asks. PTR queries for the peers the capture did not name go over UDP to the resolver
//! (`--resolver`, else the first `nameserver` of /etc/resolv.conf), all from one socket, with
//! one retry and an overall deadline; each address is asked once per run (in-process cache).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Queries sent at most per run.
const MAX_QUERIES: usize = 10_000;

/// The reverse-lookup name of an address (`4.3.2.1.in-addr.arpa`, nibbles for IPv6).
pub fn reverse_name(a: IpAddr) -> String {
    match a {
        IpAddr::V4(v) => {
            let o = v.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v) => {
            let mut s = String::with_capacity(72);
            for b in v.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0x0f, b >> 4));
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

/// A recursive query (RD set) for `name` of type `qtype`, class IN. Labels must be 1..=63
/// bytes (the caller checks names it did not make).
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(name.len() + 18);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q
}

/// The resolver from /etc/resolv.conf.
pub fn system_resolver() -> Option<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    text.lines()
        .find_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some("nameserver")).then(|| it.next()?.split('%').next()?.parse::<IpAddr>().ok()).flatten()
        })
        .map(|ip| SocketAddr::new(ip, 53))
}

/// The PTR name of each address that has one, asked of `server` within `timeout`.
pub fn resolve(addrs: &[IpAddr], server: SocketAddr, timeout: Duration) -> std::io::Result<HashMap<IpAddr, String>> {
    let bind: SocketAddr = if server.is_ipv4() { "0.0.0.0:0".parse().unwrap() } else { "[::]:0".parse().unwrap() };
    let sock = UdpSocket::bind(bind)?;
    sock.connect(server)?;
    let list: Vec<IpAddr> = addrs.iter().copied().take(MAX_QUERIES).collect();
    // Query ids are list positions; a random base makes answers to an earlier run useless.
    let base = (std::process::id() as u16).wrapping_mul(7919);
    let mut out = HashMap::new();
    let start = Instant::now();
    let deadline = start + timeout;
    let mut sent_again = false;
    let send_all = |out: &HashMap<IpAddr, String>| {
        for (i, a) in list.iter().enumerate() {
            if !out.contains_key(a) {
                let _ = sock.send(&query(base.wrapping_add(i as u16), &reverse_name(*a), 12));
            }
        }
    };
    send_all(&out);
    let mut buf = [0u8; 4096];
    let mut answered = 0usize;
    while answered < list.len() {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if !sent_again && now >= start + timeout / 2 {
            sent_again = true;
            send_all(&out);
        }
        let wait = (deadline - now).min(timeout / 4).max(Duration::from_millis(1));
        sock.set_read_timeout(Some(wait))?;
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
            Err(e) => return Err(e),
        };
        let Ok(msg) = wire::dns::Message::parse(&buf[..n]) else { continue };
        let idx = msg.id().wrapping_sub(base) as usize;
        let Some(addr) = list.get(idx).copied() else { continue };
        if !msg.is_response() || out.contains_key(&addr) {
            continue;
        }
        answered += 1;
        for r in msg.records().flatten() {
            if r.section == 1 && r.rtype == 12 {
                let mut name = String::new();
                if wire::dns::read_name(msg.bytes(), r.rdata_at, &mut name).is_ok() && !name.is_empty() {
                    out.insert(addr, name.trim_end_matches('.').to_ascii_lowercase());
                    break;
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn reverse_names() {
        assert_eq!(reverse_name("192.0.2.1".parse().unwrap()), "1.2.0.192.in-addr.arpa");
        assert_eq!(
            reverse_name("2001:db8::567:89ab".parse().unwrap()),
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
        let q = query(7, "1.2.0.192.in-addr.arpa", 12);
        assert_eq!(&q[..2], &[0, 7]);
        assert_eq!(&q[q.len() - 4..], &[0, 12, 0, 1]);
    }
}
