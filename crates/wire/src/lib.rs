//! Zero-copy, read-only views over protocol headers, one module per protocol.
//!
//! # Contract
//! Every view is built with a `parse` constructor that validates the *header* it describes and
//! returns [`Error`] when the header itself does not fit or is nonsensical. Once constructed, no
//! accessor can panic: every byte an accessor reads was checked by `parse`. The captured payload
//! behind a header may be shorter than the header declares (snaplen truncation); views expose
//! that through `payload()` (what was captured) and `is_truncated()` rather than failing, because a
//! passive tool must keep what it has.
//!
//! This crate has no dependencies, performs no I/O and keeps no state. The link, network and
//! transport views never allocate; the application decoders (`dns`, `http`, `tls`) only
//! allocate what they return (names, lists), and only for the few packets that carry them.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod dns;
pub mod ethernet;
pub mod http;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod link;
pub mod tcp;
pub mod tls;
pub mod udp;
pub mod wlan;

/// Why a header could not be read. Kept apart so that anomalies can be counted by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer ends before the fixed part of the header does.
    Truncated,
    /// A length field is smaller than the minimum or points outside the packet.
    BadLength,
    /// A version field is not the one this view reads.
    BadVersion,
    /// Any other structural problem.
    Malformed,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated header",
            Error::BadLength => "bad length field",
            Error::BadVersion => "bad version",
            Error::Malformed => "malformed header",
        })
    }
}

impl std::error::Error for Error {}

/// Result of parsing a view.
pub type Result<T> = core::result::Result<T, Error>;

/// Big-endian u16 at `at`; callers guarantee `at + 2 <= b.len()`.
#[inline(always)]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Big-endian u32 at `at`; callers guarantee `at + 4 <= b.len()`.
#[inline(always)]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// EtherType values v6watch dispatches on.
pub mod ethertype {
    /// IPv4 (RFC 894).
    pub const IPV4: u16 = 0x0800;
    /// ARP (RFC 826).
    pub const ARP: u16 = 0x0806;
    /// IPv6 (RFC 2464).
    pub const IPV6: u16 = 0x86dd;
    /// 802.1Q customer VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service VLAN tag (QinQ).
    pub const QINQ: u16 = 0x88a8;
    /// Pre-standard QinQ tag still seen in captures.
    pub const QINQ_OLD: u16 = 0x9100;
}

/// IP protocol numbers (IANA "Assigned Internet Protocol Numbers").
pub mod ipproto {
    /// IPv6 hop-by-hop options (RFC 8200).
    pub const HOPOPT: u8 = 0;
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// IPv4 encapsulated (IP-in-IP, RFC 2003).
    pub const IPIP: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 encapsulated (6in4/6to4, RFC 4213).
    pub const IPV6: u8 = 41;
    /// IPv6 routing header.
    pub const ROUTING: u8 = 43;
    /// IPv6 fragment header.
    pub const FRAGMENT: u8 = 44;
    /// GRE (RFC 2784).
    pub const GRE: u8 = 47;
    /// Encapsulating security payload.
    pub const ESP: u8 = 50;
    /// Authentication header.
    pub const AH: u8 = 51;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 "no next header".
    pub const NONXT: u8 = 59;
    /// IPv6 destination options.
    pub const DSTOPTS: u8 = 60;
    /// Mobility header (RFC 6275).
    pub const MOBILITY: u8 = 135;
    /// Host identity protocol.
    pub const HIP: u8 = 139;
    /// Shim6.
    pub const SHIM6: u8 = 140;
}
