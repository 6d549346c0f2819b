//! ICMPv4 (RFC 792) and ICMPv6 (RFC 4443, RFC 4861) message headers.

use crate::{be16, be32, Error, Result};

/// ICMPv4 and ICMPv6 share the first 8 bytes: type, code, checksum, 4 bytes of "rest of header".
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    buf: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Header length (type, code, checksum, rest-of-header).
    pub const LEN: usize = 8;
    /// Validates that the 8-byte header was captured. Some ND messages are shorter in the wild
    /// only when broken, so 8 is the minimum for every type.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        if buf.len() < Self::LEN {
            return Err(Error::Truncated);
        }
        Ok(Packet { buf })
    }
    /// Message type.
    pub fn msg_type(&self) -> u8 {
        self.buf[0]
    }
    /// Message code.
    pub fn code(&self) -> u8 {
        self.buf[1]
    }
    /// Echo identifier (bytes 4-5).
    pub fn echo_ident(&self) -> u16 {
        be16(self.buf, 4)
    }
    /// Rest of header as a u32 (MTU for Packet Too Big, pointer for Parameter Problem).
    pub fn rest(&self) -> u32 {
        be32(self.buf, 4)
    }
    /// Everything after the 8-byte header: the quoted packet for error messages.
    pub fn body(&self) -> &'a [u8] {
        &self.buf[Self::LEN..]
    }
}

/// ICMPv4 types v6watch names.
pub mod v4 {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DEST_UNREACH: u8 = 3;
    /// Source quench (deprecated).
    pub const SOURCE_QUENCH: u8 = 4;
    /// Redirect.
    pub const REDIRECT: u8 = 5;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 12;
    /// Destination unreachable code: fragmentation needed and DF set (Path MTU discovery).
    pub const FRAG_NEEDED: u8 = 4;

    /// What a destination-unreachable code says (RFC 792, RFC 1812).
    pub fn unreach_reason(code: u8) -> &'static str {
        match code {
            0 => "network unreachable",
            1 => "host unreachable",
            2 => "protocol unreachable",
            3 => "port unreachable",
            4 => "fragmentation needed",
            9 | 10 | 13 => "administratively prohibited",
            _ => "unreachable",
        }
    }

    /// Whether the type is an error that quotes the offending datagram.
    pub fn is_error(t: u8) -> bool {
        matches!(t, DEST_UNREACH | SOURCE_QUENCH | REDIRECT | TIME_EXCEEDED | PARAM_PROBLEM)
    }
    /// The type paired with this one (request and reply), as Zeek's `ICMP4_counterpart`: it keys
    /// both into one flow and is the flow's responder "port".
    pub fn counterpart(t: u8) -> Option<u8> {
        Some(match t {
            0 => 8,
            8 => 0,
            13 => 14,
            14 => 13,
            15 => 16,
            16 => 15,
            17 => 18,
            18 => 17,
            9 => 10,
            10 => 9,
            _ => return None,
        })
    }
}

/// ICMPv6 types v6watch names.
pub mod v6 {
    /// Destination unreachable.
    pub const DEST_UNREACH: u8 = 1;
    /// Packet too big.
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 4;

    /// What a destination-unreachable code says (RFC 4443 §3.1).
    pub fn unreach_reason(code: u8) -> &'static str {
        match code {
            0 => "no route to destination",
            1 => "administratively prohibited",
            2 => "beyond scope of source address",
            3 => "address unreachable",
            4 => "port unreachable",
            5 => "source address failed ingress/egress policy",
            6 => "reject route to destination",
            _ => "unreachable",
        }
    }
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 129;
    /// Multicast listener query.
    pub const MLD_QUERY: u8 = 130;
    /// Multicast listener report (v1).
    pub const MLD_REPORT: u8 = 131;
    /// Multicast listener done.
    pub const MLD_DONE: u8 = 132;
    /// Router solicitation.
    pub const ROUTER_SOLICIT: u8 = 133;
    /// Router advertisement.
    pub const ROUTER_ADVERT: u8 = 134;
    /// Neighbor solicitation.
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    /// Neighbor advertisement.
    pub const NEIGHBOR_ADVERT: u8 = 136;
    /// Redirect.
    pub const REDIRECT: u8 = 137;
    /// Multicast listener report v2.
    pub const MLD2_REPORT: u8 = 143;

    /// Whether the type is an error that quotes the offending packet (types 0-127).
    pub fn is_error(t: u8) -> bool {
        t < 128
    }
    /// Neighbour discovery, router discovery or multicast listener messages: link infrastructure.
    pub fn is_infrastructure(t: u8) -> bool {
        matches!(t, 130..=137 | 143 | 151..=153)
    }
    /// The type paired with this one, as Zeek's `ICMP6_counterpart` (echo, router and neighbor
    /// discovery, MLD query/report, node information, home-agent discovery).
    pub fn counterpart(t: u8) -> Option<u8> {
        Some(match t {
            128 => 129,
            129 => 128,
            133 => 134,
            134 => 133,
            135 => 136,
            136 => 135,
            130 => 131,
            131 => 130,
            139 => 140,
            140 => 139,
            144 => 145,
            145 => 144,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn header_and_body() {
        let m = [2u8, 0, 0, 0, 0, 0, 5, 0, 0x60];
        let p = Packet::parse(&m).unwrap();
        assert_eq!((p.msg_type(), p.code(), p.rest()), (2, 0, 1280));
        assert_eq!(p.body(), &[0x60]);
        assert!(v6::is_error(p.msg_type()));
        assert_eq!(v6::counterpart(128), Some(129));
        assert_eq!(v4::counterpart(8), Some(0));
        assert!(Packet::parse(&m[..7]).is_err());
    }
}
