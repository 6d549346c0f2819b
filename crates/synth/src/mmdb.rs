//! A minimal MaxMind DB (`.mmdb`) writer, so tests can build their own ASN and country
//! databases (MaxMind's are licensed and not redistributable). Format: MaxMind DB spec 2.0 —
//! a binary search tree over IPv6 (IPv4 lives under `::/96`), 24-bit records, a data section
//! of maps, strings and unsigned integers, and the metadata map after the marker.

use std::net::IpAddr;

/// A value of the data section.
#[derive(Clone, Debug)]
pub enum Value {
    /// UTF-8 string.
    Str(String),
    /// Unsigned 32-bit integer.
    U32(u32),
    /// Map of string keys.
    Map(Vec<(String, Value)>),
}

fn control(out: &mut Vec<u8>, ty: u8, size: usize) {
    let (first, extra): (u8, Vec<u8>) = match size {
        0..=28 => (size as u8, vec![]),
        29..=284 => (29, vec![(size - 29) as u8]),
        285..=65_820 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec()),
    };
    if ty <= 7 {
        out.push(ty << 5 | first);
    } else {
        out.push(first);
        out.push(ty - 7);
    }
    out.extend(extra);
}

fn encode(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Str(s) => {
            control(out, 2, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Value::U32(n) => {
            let b = n.to_be_bytes();
            let skip = b.iter().take_while(|x| **x == 0).count();
            control(out, 6, 4 - skip);
            out.extend_from_slice(&b[skip..]);
        }
        Value::Map(m) => {
            control(out, 7, m.len());
            for (k, v) in m {
                encode(out, &Value::Str(k.clone()));
                encode(out, v);
            }
        }
    }
}

fn uint(out: &mut Vec<u8>, ty: u8, n: u64) {
    let b = n.to_be_bytes();
    let skip = b.iter().take_while(|x| **x == 0).count();
    control(out, ty, 8 - skip);
    out.extend_from_slice(&b[skip..]);
}

#[derive(Clone, Copy)]
enum Rec {
    Empty,
    Node(usize),
    Data(usize),
}

/// Builds a database of `database_type` mapping each network (address, prefix length) to its
/// value. Networks must not nest.
pub fn build(database_type: &str, entries: &[(IpAddr, u8, Value)]) -> Vec<u8> {
    let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty, Rec::Empty]];
    let mut data = Vec::new();
    for (addr, len, value) in entries {
        let (bits, len) = match addr {
            IpAddr::V4(a) => {
                let mut b = [0u8; 16];
                b[12..].copy_from_slice(&a.octets());
                (b, 96 + usize::from(*len))
            }
            IpAddr::V6(a) => (a.octets(), usize::from(*len)),
        };
        let offset = data.len();
        encode(&mut data, value);
        let mut node = 0;
        for i in 0..len {
            let bit = usize::from(bits[i / 8] >> (7 - i % 8) & 1);
            if i + 1 == len {
                nodes[node][bit] = Rec::Data(offset);
                break;
            }
            node = match nodes[node][bit] {
                Rec::Node(j) => j,
                _ => {
                    nodes.push([Rec::Empty, Rec::Empty]);
                    let j = nodes.len() - 1;
                    nodes[node][bit] = Rec::Node(j);
                    j
                }
            };
        }
    }
    let n = nodes.len();
    let mut out = Vec::new();
    for node in &nodes {
        for r in node {
            let v = match *r {
                Rec::Empty => n,
                Rec::Node(j) => j,
                Rec::Data(off) => n + 16 + off,
            };
            out.extend_from_slice(&(v as u32).to_be_bytes()[1..]);
        }
    }
    out.extend_from_slice(&[0u8; 16]);
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
    // Metadata map (9 pairs).
    control(&mut out, 7, 9);
    let key = |out: &mut Vec<u8>, k: &str| encode(out, &Value::Str(k.into()));
    key(&mut out, "node_count");
    uint(&mut out, 6, n as u64);
    key(&mut out, "record_size");
    uint(&mut out, 5, 24);
    key(&mut out, "ip_version");
    uint(&mut out, 5, 6);
    key(&mut out, "database_type");
    encode(&mut out, &Value::Str(database_type.into()));
    key(&mut out, "languages");
    control(&mut out, 11, 1);
    encode(&mut out, &Value::Str("en".into()));
    key(&mut out, "binary_format_major_version");
    uint(&mut out, 5, 2);
    key(&mut out, "binary_format_minor_version");
    uint(&mut out, 5, 0);
    key(&mut out, "build_epoch");
    uint(&mut out, 9, 1_307_491_200);
    key(&mut out, "description");
    encode(&mut out, &Value::Map(vec![("en".into(), Value::Str("v6watch test database".into()))]));
    out
}
