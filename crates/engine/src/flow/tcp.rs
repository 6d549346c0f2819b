//! Zeek's TCP endpoint states, `history` letters and `conn_state` classification
//! (zeek `scripts/base/protocols/conn/main.zeek`, `src/analyzer/protocol/tcp/TCP.cc`).

use crate::model::ConnState;

/// One endpoint's TCP state, as Zeek's TCP analyzer tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndpointState {
    /// Nothing sent yet.
    #[default]
    Inactive,
    /// Sent a SYN.
    SynSent,
    /// Sent a SYN-ACK.
    SynAckSent,
    /// Seen mid-stream (no SYN observed).
    Partial,
    /// Handshake done.
    Established,
    /// Sent a FIN.
    Closed,
    /// Sent a RST.
    Reset,
}

/// History letters, bounded. Upper case: originator; lower case: responder.
#[derive(Debug, Clone, Copy)]
pub struct History {
    buf: [u8; Self::CAP],
    len: u8,
}

impl Default for History {
    fn default() -> Self {
        History { buf: [0; Self::CAP], len: 0 }
    }
}

impl History {
    /// Letters kept; the rules below make real histories far shorter, this only bounds
    /// adversarial ones. 45 keeps the flow slot at 448 bytes.
    pub const CAP: usize = 45;

    /// Appends a letter (case already applied).
    pub fn push(&mut self, c: u8) {
        if usize::from(self.len) < Self::CAP {
            self.buf[usize::from(self.len)] = c;
            self.len += 1;
        }
    }
    /// The letters.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or("")
    }
    /// Whether the history is exactly one or more originator SYNs followed by one originator RST.
    pub fn is_syns_then_rst(&self) -> bool {
        let s = self.as_str().trim_start_matches('^');
        let syns = s.trim_start_matches('S');
        syns.len() < s.len() && syns == "R"
    }
}

/// Zeek's logarithmic letters (c, g, t, w): the letter is recorded when the count reaches
/// 1, 10, 100, ... so a count is readable from how often the letter repeats.
#[inline]
pub fn log_threshold_reached(count: u64) -> bool {
    count == 1 || (count >= 10 && is_power_of_ten(count))
}

fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

/// Zeek's conn_state for a TCP connection from its endpoint states, payload sizes and history.
pub fn conn_state(
    orig: EndpointState,
    resp: EndpointState,
    orig_bytes: u64,
    resp_bytes: u64,
    history: &History,
) -> ConnState {
    use EndpointState::*;
    if resp == Reset {
        if matches!(orig, SynSent | SynAckSent) || (orig == Reset && orig_bytes == 0 && resp_bytes == 0) {
            return ConnState::REJ;
        }
        if matches!(orig, Inactive | Partial) {
            return ConnState::RSTRH;
        }
        return ConnState::RSTR;
    }
    if orig == Reset {
        if resp == Inactive {
            return if history.is_syns_then_rst() { ConnState::RSTOS0 } else { ConnState::OTH };
        }
        return ConnState::RSTO;
    }
    match (orig, resp) {
        (Closed, Closed) => ConnState::SF,
        (Closed, Inactive) => ConnState::SH,
        (Closed, _) => ConnState::S2,
        (Inactive, Closed) => ConnState::SHR,
        (_, Closed) => ConnState::S3,
        (SynSent, Inactive) => ConnState::S0,
        (Established, Established) => ConnState::S1,
        _ => ConnState::OTH,
    }
}

/// Zeek's conn_state for UDP (and other connectionless protocols except ICMP).
pub fn udp_conn_state(orig_pkts: u64, resp_pkts: u64) -> ConnState {
    match (orig_pkts > 0, resp_pkts > 0) {
        (true, true) => ConnState::SF,
        (true, false) => ConnState::S0,
        (false, true) => ConnState::SHR,
        (false, false) => ConnState::OTH,
    }
}

#[cfg(test)]
mod test {
    use super::EndpointState::*;
    use super::*;

    fn h(s: &str) -> History {
        let mut x = History::default();
        s.bytes().for_each(|c| x.push(c));
        x
    }

    #[test]
    fn states_follow_zeek() {
        let e = History::default();
        assert_eq!(conn_state(SynSent, Inactive, 0, 0, &e).name(), "S0");
        assert_eq!(conn_state(SynSent, Reset, 0, 0, &e).name(), "REJ");
        assert_eq!(conn_state(Established, Established, 5, 5, &e).name(), "S1");
        assert_eq!(conn_state(Closed, Closed, 5, 5, &e).name(), "SF");
        assert_eq!(conn_state(Closed, Established, 5, 5, &e).name(), "S2");
        assert_eq!(conn_state(Established, Closed, 5, 5, &e).name(), "S3");
        assert_eq!(conn_state(Reset, Established, 5, 5, &e).name(), "RSTO");
        assert_eq!(conn_state(Established, Reset, 5, 5, &e).name(), "RSTR");
        assert_eq!(conn_state(Reset, Inactive, 0, 0, &h("SR")).name(), "RSTOS0");
        assert_eq!(conn_state(Reset, Inactive, 0, 0, &h("DR")).name(), "OTH");
        assert_eq!(conn_state(Inactive, Reset, 0, 0, &h("hr")).name(), "RSTRH");
        assert_eq!(conn_state(Closed, Inactive, 0, 0, &e).name(), "SH");
        assert_eq!(conn_state(Inactive, Closed, 0, 0, &e).name(), "SHR");
        assert_eq!(conn_state(Partial, Partial, 1, 1, &e).name(), "OTH");
        assert_eq!(conn_state(Reset, Reset, 0, 0, &e).name(), "REJ");
    }

    #[test]
    fn log_letters_and_caps() {
        let hits: Vec<u64> = (1..=1000).filter(|n| log_threshold_reached(*n)).collect();
        assert_eq!(hits, vec![1, 10, 100, 1000]);
        let mut x = History::default();
        for _ in 0..100 {
            x.push(b'S');
        }
        assert_eq!(x.as_str().len(), History::CAP);
        assert!(h("SSSR").is_syns_then_rst());
        assert!(!h("R").is_syns_then_rst());
        assert_eq!(udp_conn_state(1, 0).name(), "S0");
    }
}
